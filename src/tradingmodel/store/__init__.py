"""Storage: SQLAlchemy 2 models, Alembic migrations, idempotent bulk ingestion of bars, repositories.

One schema for SQLite (default, ``./data/tradingmodel.db``) and PostgreSQL (``DATABASE_URL=
postgresql+psycopg://…``). See ``docs/storage.md``.
"""

from tradingmodel.store.bars import bar_coverage, iter_bars, list_symbols, load_bars, load_bars_checked
from tradingmodel.store.engine import current_revision, dispose_engines, downgrade, get_engine, upgrade
from tradingmodel.store.fetch import fetched_ranges, mark_fetched
from tradingmodel.store.ingest import IngestStats, ingest_bars, write_transaction
from tradingmodel.store.jobs import (
    JOB_STATUSES,
    JOB_TERMINAL,
    list_training_jobs,
    save_training_job,
    update_training_job,
)
from tradingmodel.store.repos import (
    finish_run,
    list_fills,
    list_models,
    list_orders,
    list_positions,
    list_predictions,
    list_runs,
    save_fill,
    save_model,
    save_order,
    save_position,
    save_predictions,
    save_run_row,
    update_order,
)
from tradingmodel.store.types import StoreError, parse_timeframe

__all__ = [
    "JOB_STATUSES",
    "JOB_TERMINAL",
    "list_training_jobs",
    "save_training_job",
    "update_training_job",
    "IngestStats",
    "StoreError",
    "bar_coverage",
    "current_revision",
    "dispose_engines",
    "downgrade",
    "fetched_ranges",
    "finish_run",
    "get_engine",
    "ingest_bars",
    "iter_bars",
    "list_fills",
    "list_models",
    "list_orders",
    "list_positions",
    "list_predictions",
    "list_runs",
    "list_symbols",
    "list_training_jobs",
    "load_bars_checked",
    "mark_fetched",
    "parse_timeframe",
    "load_bars",
    "save_fill",
    "save_model",
    "save_order",
    "save_position",
    "save_predictions",
    "save_run_row",
    "save_training_job",
    "update_order",
    "update_training_job",
    "upgrade",
    "write_transaction",
]
