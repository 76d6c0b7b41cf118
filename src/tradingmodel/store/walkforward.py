"""The ``runs`` row of a walk-forward evaluation (``kind = 'walkforward'``).

Kept apart from :mod:`tradingmodel.store.repos` (whose ``save_run_row`` stores backtests and paper/live
sessions): a walk-forward run carries its options in ``runs.params`` (migration 0003) and its figures -
per fold, pooled, stitched, significance - in ``runs.metrics``. Only the walk-forward driver calls this.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tradingmodel.store.ingest import write_transaction
from tradingmodel.store.schema import Run, utcnow
from tradingmodel.store.sql import json_safe
from tradingmodel.store.types import StoreError, parse_timeframe, to_utc

KIND = "walkforward"
STATUSES = ("finished", "partial")  # partial: some tasks failed, the others' figures are in metrics


def save_walkforward_run(
    engine: Engine | Connection,
    name: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    *,
    config_toml: str,
    data_hash: str | None,
    symbols: Iterable[str],
    timeframe: str,
    data_start: Any,
    data_end: Any,
    status: str = "finished",
    notes: str | None = None,
) -> int:
    """Insert one walk-forward run; returns its id. ``name`` is unique across runs (the run folder's id)."""
    if not name:
        raise StoreError("a walk-forward run needs a name")
    if status not in STATUSES:
        raise StoreError(f"walk-forward run status must be one of {', '.join(STATUSES)}, got {status!r}")
    now = utcnow()
    t = Run.__table__
    with write_transaction(engine) as conn:
        if conn.execute(select(t.c.id).where(t.c.name == name)).first() is not None:
            raise StoreError(f"a run named {name!r} is already stored")
        values = dict(
            name=name,
            kind=KIND,
            status=status,
            config_toml=config_toml,
            params=json_safe(params),
            metrics=json_safe(metrics),
            data_hash=data_hash,
            symbols=list(symbols),
            timeframe=parse_timeframe(timeframe)[0],
            data_start=to_utc(data_start, name="data_start"),
            data_end=to_utc(data_end, name="data_end"),
            notes=notes,
            created_at=now,
            finished_at=now,
        )
        return int(conn.execute(insert(t).values(**values).returning(t.c.id)).scalar_one())


def get_walkforward_run(engine: Engine | Connection, name: str) -> dict[str, Any] | None:
    """The stored walk-forward run called ``name`` as a dict, or ``None``."""
    t = Run.__table__
    stmt = select(t).where(t.c.kind == KIND, t.c.name == name)
    if isinstance(engine, Connection):
        row = engine.execute(stmt).first()
    else:
        with engine.connect() as conn:
            row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None
