"""Live sessions, events and jobs: the columns the live engine, the broker adapters and the API share.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

- ``runs.name``: a paper/live session's name; starting a session of that name again continues it.
- ``session_state``: the strategy snapshot and the last processed bar of a session, one row per run.
- ``events``: an append-only log (bar, prediction, signal, order, fill, portfolio, risk, job) with a
  monotonically increasing id, written in the same transactions as the state it describes; the API's
  WebSocket tails it and a client resumes from an id.
- ``orders``: the bar a decision was made after, the filled quantity, the broker's message, the parent of
  a protective leg.
- ``fills.broker_fill_id``: unique, so a fill delivered twice is applied once.
- ``predictions.signals``: which entry rules passed, the decision and the rejection reason.
- ``training_jobs``: parameters, progress, a cancel flag, the worker and its heartbeat.

Unique constraints on existing tables are unique indexes, which SQLite can add without a table rebuild.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("runs", sa.Column("name", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_runs_name"), "runs", ["name"], unique=True)

    op.create_table(
        "session_state",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("last_bar_time", TS, nullable=True),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_session_state_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_session_state")),
    )
    op.create_table(
        "events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("bar_time", TS, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_events_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_run_id_id"), "events", ["run_id", "id"])
    op.create_index(op.f("ix_events_type_id"), "events", ["type", "id"])

    op.add_column("orders", sa.Column("bar_time", TS, nullable=True))
    op.add_column("orders", sa.Column("filled_quantity", sa.Double(), nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("parent_client_order_id", sa.String(length=64), nullable=True))

    op.add_column("fills", sa.Column("broker_fill_id", sa.String(length=128), nullable=True))
    op.create_index(op.f("ix_fills_broker_fill_id"), "fills", ["broker_fill_id"], unique=True)

    op.add_column("predictions", sa.Column("signals", JSON, nullable=True))

    op.add_column("training_jobs", sa.Column("params", JSON, nullable=True))
    op.add_column("training_jobs", sa.Column("progress", JSON, nullable=True))
    op.add_column(
        "training_jobs", sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("training_jobs", sa.Column("worker_pid", sa.Integer(), nullable=True))
    op.add_column("training_jobs", sa.Column("heartbeat_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        for col in ("heartbeat_at", "worker_pid", "cancel_requested", "progress", "params"):
            batch.drop_column(col)
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("signals")
    op.drop_index(op.f("ix_fills_broker_fill_id"), table_name="fills")
    with op.batch_alter_table("fills") as batch:
        batch.drop_column("broker_fill_id")
    with op.batch_alter_table("orders") as batch:
        for col in ("parent_client_order_id", "message", "filled_quantity", "bar_time"):
            batch.drop_column(col)
    op.drop_table("events")
    op.drop_table("session_state")
    op.drop_index(op.f("ix_runs_name"), table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("name")
