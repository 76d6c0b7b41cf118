"""Initial schema: bars, fetch bookkeeping, model registry, predictions, jobs, runs, orders, fills, positions.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Self-contained on purpose (plain SQLAlchemy types, no imports from the application), so that later code
changes never alter what this revision creates. ``DateTime(timezone=True)`` is TIMESTAMPTZ on PostgreSQL;
on SQLite the application stores UTC (see ``tradingmodel.store.types.UTCDateTime``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, TS, nullable=nullable)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def _num(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "market_data",
        _str("symbol", 32),
        _str("timeframe", 8),
        _ts("timestamp"),
        _num("open"),
        _num("high"),
        _num("low"),
        _num("close"),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        _num("vwap", True),
        sa.Column("transactions", sa.BigInteger(), nullable=True),
        sa.Column("indicators", JSON, nullable=True),
        sa.PrimaryKeyConstraint("symbol", "timeframe", "timestamp", name=op.f("pk_market_data")),
        sqlite_with_rowid=False,  # SQLite: the table is its primary-key B-tree (one tree, not two)
    )
    op.create_table(
        "fetch_progress",
        _id(),
        _str("symbol", 32),
        _str("timeframe", 8),
        _ts("range_start"),
        _ts("range_end"),
        _ts("completed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_progress")),
        sa.UniqueConstraint(
            "symbol",
            "timeframe",
            "range_start",
            "range_end",
            name=op.f("uq_fetch_progress_symbol_timeframe_range_start_range_end"),
        ),
    )
    op.create_table(
        "models",
        _id(),
        _str("name", 200),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("symbols", JSON, nullable=False),
        _str("timeframe", 8),
        sa.Column("config_toml", sa.Text(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        _str("data_hash", 128, True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("path", name=op.f("uq_models_path")),
    )
    op.create_index(op.f("ix_models_created_at"), "models", ["created_at"])
    op.create_table(
        "predictions",
        _id(),
        sa.Column("model_id", ID, nullable=False),
        _str("symbol", 32),
        _str("timeframe", 8),
        _ts("timestamp"),
        sa.Column("horizon", sa.Integer(), nullable=False),
        _num("predicted_price"),
        _num("confidence", True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_predictions_model_id_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint(
            "model_id",
            "symbol",
            "timeframe",
            "horizon",
            "timestamp",
            name=op.f("uq_predictions_model_id_symbol_timeframe_horizon_timestamp"),
        ),
    )
    op.create_index(
        op.f("ix_predictions_symbol_timeframe_timestamp"), "predictions", ["symbol", "timeframe", "timestamp"]
    )
    op.create_table(
        "training_jobs",
        _id(),
        _str("status", 16),
        sa.Column("symbols", JSON, nullable=False),
        _str("timeframe", 8),
        sa.Column("config_toml", sa.Text(), nullable=False),
        _str("data_hash", 128, True),
        sa.Column("model_id", ID, nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("started_at", True),
        _ts("finished_at", True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_training_jobs_model_id_models"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_jobs")),
    )
    op.create_index(op.f("ix_training_jobs_status_created_at"), "training_jobs", ["status", "created_at"])
    op.create_table(
        "runs",
        _id(),
        _str("kind", 16),
        _str("status", 16),
        sa.Column("config_toml", sa.Text(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        _str("data_hash", 128, True),
        sa.Column("symbols", JSON, nullable=False),
        _str("timeframe", 8),
        _ts("data_start", True),
        _ts("data_end", True),
        sa.Column("model_id", ID, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("finished_at", True),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_runs_model_id_models"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_kind_created_at"), "runs", ["kind", "created_at"])
    op.create_table(
        "orders",
        _id(),
        sa.Column("run_id", ID, nullable=False),
        _str("client_order_id", 64),
        _str("broker_order_id", 64, True),
        _str("symbol", 32),
        _str("side", 4),
        _num("quantity"),
        _str("order_type", 16),
        _num("limit_price", True),
        _num("stop_price", True),
        _str("status", 16),
        _str("reason", 32, True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_orders_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index(op.f("ix_orders_run_id_created_at"), "orders", ["run_id", "created_at"])
    op.create_index(op.f("ix_orders_status"), "orders", ["status"])
    op.create_index(op.f("ix_orders_symbol_created_at"), "orders", ["symbol", "created_at"])
    op.create_table(
        "fills",
        _id(),
        sa.Column("order_id", ID, nullable=False),
        _str("symbol", 32),
        _str("side", 4),
        _num("quantity"),
        _num("price"),
        _num("commission"),
        _ts("timestamp"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"])
    op.create_index(op.f("ix_fills_symbol_timestamp"), "fills", ["symbol", "timestamp"])
    op.create_table(
        "positions",
        _id(),
        sa.Column("run_id", ID, nullable=False),
        _str("symbol", 32),
        _num("quantity"),
        _num("avg_price"),
        _num("realized_pnl"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_positions_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("run_id", "symbol", name=op.f("uq_positions_run_id_symbol")),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes on both dialects.
    for table in (
        "positions",
        "fills",
        "orders",
        "runs",
        "training_jobs",
        "predictions",
        "models",
        "fetch_progress",
        "market_data",
    ):
        op.drop_table(table)
