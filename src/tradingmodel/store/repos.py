"""Small repositories for the model registry, predictions, runs, orders, fills, positions (training jobs:
:mod:`tradingmodel.store.jobs`).

Every ``save_*`` runs in its own transaction (or joins the caller's when given a ``Connection``) and
returns the row id; every ``list_*`` returns plain dicts, newest first where time matters. Orders and
fills are meant to be saved *before* the broker acknowledgement is acted on, so a restart can rebuild
positions from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Select, insert, select, update

from tradingmodel.store.bars import _rows
from tradingmodel.store.ingest import write_transaction
from tradingmodel.store.schema import Fill, Model, Order, Position, Prediction, Run, utcnow
from tradingmodel.store.sql import json_safe, upsert
from tradingmodel.store.types import StoreError, parse_timeframe, to_utc

RUN_KINDS = ("backtest", "paper", "live")
SIDES = ("buy", "sell")


def _insert_id(engine: Engine | Connection, table: Any, values: dict[str, Any]) -> int:
    with write_transaction(engine) as conn:
        return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def _dicts(engine: Engine | Connection, stmt: Select[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in _rows(engine, stmt)]


def _update_one(engine: Engine | Connection, table: Any, row_id: int, values: dict[str, Any], what: str) -> None:
    """Update the row ``row_id`` of ``table``; :class:`StoreError` ("no <what> with id …") when there is none."""
    with write_transaction(engine) as conn:
        if conn.execute(update(table).where(table.c.id == row_id).values(**values)).rowcount != 1:
            raise StoreError(f"no {what} with id {row_id}")


def _newest(engine: Engine | Connection, entity: Any, limit: int, **equal: Any) -> list[dict[str, Any]]:
    """Rows of ``entity``, newest first (by creation time, then id), where each ``column == value`` of
    ``equal`` whose value is not ``None``."""
    stmt = select(entity.__table__).order_by(entity.created_at.desc(), entity.id.desc())
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(entity, column) == value)
    return _dicts(engine, stmt.limit(limit))


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise StoreError(f"{name} must be a positive number, got {value!r}")
    return value


# --- models ----------------------------------------------------------------------------------------------
def save_model(
    engine: Engine | Connection,
    name: str,
    path: str,
    metrics: dict[str, Any],
    *,
    symbols: Iterable[str] = (),
    timeframe: str = "1m",
    config_toml: str = "",
    data_hash: str | None = None,
) -> int:
    """Register a checkpoint (re-registering the same path updates its metrics); returns its id."""
    values = dict(
        name=name,
        path=str(path),
        metrics=json_safe(metrics),
        symbols=list(symbols),
        timeframe=parse_timeframe(timeframe)[0],
        config_toml=config_toml,
        data_hash=data_hash,
        created_at=utcnow(),
    )
    table = Model.__table__
    with write_transaction(engine) as conn:
        stmt = (
            upsert(conn, table, ["path"], ["name", "metrics", "symbols", "timeframe", "config_toml", "data_hash"])
            .values(**values)
            .returning(table.c.id)
        )
        return int(conn.execute(stmt).scalar_one())


def list_models(engine: Engine | Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Registered models, newest first."""
    return _newest(engine, Model, limit)


# --- predictions -----------------------------------------------------------------------------------------
def save_predictions(
    engine: Engine | Connection, model_id: int, predictions: pd.DataFrame, *, timeframe: str = "1m", horizon: int = 1
) -> int:
    """Store a predictions DataFrame (``symbol, timestamp, predicted_close[, confidence]``; ``timestamp`` is
    the bar the prediction was made after). Idempotent per (model, symbol, timeframe, horizon, timestamp);
    returns the number of rows written."""
    missing = {"symbol", "timestamp", "predicted_close"} - set(predictions.columns)
    if missing:
        raise StoreError(f"predictions: missing column(s) {', '.join(sorted(missing))}")
    if horizon < 1:
        raise StoreError(f"horizon must be at least 1 bar, got {horizon}")
    ts = pd.DatetimeIndex(predictions["timestamp"])
    if ts.tz is None:
        raise StoreError("predictions: column timestamp has no time zone (expected UTC)")
    price = predictions["predicted_close"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(price))
    if bad.size:
        raise StoreError(f"predictions row {int(bad[0]) + 1}: predicted_close is {float(price[bad[0]])!r}")
    conf = (
        predictions["confidence"].to_numpy(dtype=np.float64)
        if "confidence" in predictions
        else np.full(len(predictions), np.nan)
    )
    tf = parse_timeframe(timeframe)[0]
    now = utcnow()
    rows = [
        dict(
            model_id=model_id,
            symbol=str(s),
            timeframe=tf,
            horizon=horizon,
            timestamp=t.to_pydatetime(),
            predicted_price=float(p),
            confidence=None if np.isnan(c) else float(c),
            created_at=now,
        )
        for s, t, p, c in zip(predictions["symbol"], ts.tz_convert("UTC"), price, conf, strict=True)
    ]
    if not rows:
        return 0
    with write_transaction(engine) as conn:
        stmt = upsert(
            conn,
            Prediction.__table__,
            ["model_id", "symbol", "timeframe", "horizon", "timestamp"],
            ["predicted_price", "confidence", "created_at"],
        )
        conn.execute(stmt, rows)
    return len(rows)


def list_predictions(
    engine: Engine | Connection,
    symbol: str | None = None,
    *,
    model_id: int | None = None,
    start: Any = None,
    end: Any = None,
    timeframe: str = "1m",
) -> pd.DataFrame:
    """Predictions as a DataFrame (``symbol, timestamp, predicted_close, confidence, model_id, horizon``)."""
    p = Prediction
    stmt = select(
        p.symbol, p.timestamp, p.predicted_price.label("predicted_close"), p.confidence, p.model_id, p.horizon
    ).where(p.timeframe == parse_timeframe(timeframe)[0])
    if symbol is not None:
        stmt = stmt.where(p.symbol == symbol)
    if model_id is not None:
        stmt = stmt.where(p.model_id == model_id)
    if start is not None:
        stmt = stmt.where(p.timestamp >= to_utc(start, name="start"))
    if end is not None:
        stmt = stmt.where(p.timestamp < to_utc(end, name="end"))
    rows = _dicts(engine, stmt.order_by(p.symbol, p.timestamp, p.model_id))
    frame = pd.DataFrame(rows, columns=["symbol", "timestamp", "predicted_close", "confidence", "model_id", "horizon"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


# --- runs ------------------------------------------------------------------------------------------------
def save_run_row(
    engine: Engine | Connection,
    kind: str,
    config_toml: str,
    metrics: dict[str, Any],
    data_hash: str | None,
    *,
    symbols: Iterable[str] = (),
    timeframe: str = "1m",
    data_start: Any = None,
    data_end: Any = None,
    model_id: int | None = None,
    status: str = "finished",
    notes: str | None = None,
) -> int:
    """Store a backtest or paper/live session with what reproduces it; returns the run id."""
    if kind not in RUN_KINDS:
        raise StoreError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")
    now = utcnow()
    return _insert_id(
        engine,
        Run.__table__,
        dict(
            kind=kind,
            status=status,
            config_toml=config_toml,
            metrics=json_safe(metrics),
            data_hash=data_hash,
            symbols=list(symbols),
            timeframe=parse_timeframe(timeframe)[0],
            data_start=to_utc(data_start, name="data_start") if data_start is not None else None,
            data_end=to_utc(data_end, name="data_end") if data_end is not None else None,
            model_id=model_id,
            notes=notes,
            created_at=now,
            finished_at=now if status == "finished" else None,
        ),
    )


def finish_run(engine: Engine | Connection, run_id: int, metrics: dict[str, Any], status: str = "finished") -> None:
    """Record the final metrics and status of a session that was saved while running."""
    values = {"metrics": json_safe(metrics), "status": status, "finished_at": utcnow()}
    _update_one(engine, Run.__table__, run_id, values, "run")


def list_runs(engine: Engine | Connection, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Runs, newest first, optionally of one ``kind``."""
    return _newest(engine, Run, limit, kind=kind)


# --- orders, fills, positions ----------------------------------------------------------------------------
def save_order(
    engine: Engine | Connection,
    run_id: int,
    client_order_id: str,
    symbol: str,
    side: str,
    quantity: float,
    *,
    order_type: str = "market",
    limit_price: float | None = None,
    stop_price: float | None = None,
    status: str = "new",
    reason: str | None = None,
    created_at: datetime | None = None,
) -> int:
    """Store an order before it is sent; returns its id. ``client_order_id`` is unique (idempotency key)."""
    if side not in SIDES:
        raise StoreError(f"order side must be 'buy' or 'sell', got {side!r}")
    ts = to_utc(created_at, name="created_at") if created_at is not None else utcnow()
    return _insert_id(
        engine,
        Order.__table__,
        dict(
            run_id=run_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=_positive("quantity", quantity),
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            status=status,
            reason=reason,
            created_at=ts,
            updated_at=ts,
        ),
    )


def update_order(
    engine: Engine | Connection, order_id: int, status: str, *, broker_order_id: str | None = None
) -> None:
    """Change an order's status (``accepted``, ``filled``, ``cancelled``, ``rejected``...)."""
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if broker_order_id is not None:
        values["broker_order_id"] = broker_order_id
    _update_one(engine, Order.__table__, order_id, values, "order")


def list_orders(
    engine: Engine | Connection, run_id: int | None = None, symbol: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Orders in submission order, optionally of one run and/or symbol."""
    stmt = select(Order.__table__).order_by(Order.created_at, Order.id)
    if run_id is not None:
        stmt = stmt.where(Order.run_id == run_id)
    if symbol is not None:
        stmt = stmt.where(Order.symbol == symbol)
    return _dicts(engine, stmt.limit(limit))


def save_fill(
    engine: Engine | Connection,
    order_id: int,
    symbol: str,
    side: str,
    quantity: float,
    price: float,
    commission: float,
    timestamp: datetime,
) -> int:
    """Store an execution of an order (commission in account currency); returns the fill id."""
    if side not in SIDES:
        raise StoreError(f"fill side must be 'buy' or 'sell', got {side!r}")
    if not np.isfinite(commission) or commission < 0:
        raise StoreError(f"commission must be a non-negative number, got {commission!r}")
    return _insert_id(
        engine,
        Fill.__table__,
        dict(
            order_id=order_id,
            symbol=symbol,
            side=side,
            quantity=_positive("quantity", quantity),
            price=_positive("price", price),
            commission=float(commission),
            timestamp=to_utc(timestamp),
        ),
    )


def list_fills(
    engine: Engine | Connection, run_id: int | None = None, order_id: int | None = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Fills in time order, optionally of one run or one order."""
    stmt = select(Fill.__table__).order_by(Fill.timestamp, Fill.id)
    if order_id is not None:
        stmt = stmt.where(Fill.order_id == order_id)
    if run_id is not None:
        stmt = stmt.join(Order, Order.id == Fill.order_id).where(Order.run_id == run_id)
    return _dicts(engine, stmt.limit(limit))


def save_position(
    engine: Engine | Connection, run_id: int, symbol: str, quantity: float, avg_price: float, realized_pnl: float = 0.0
) -> None:
    """Set the position of ``symbol`` in ``run_id`` (signed quantity; 0 = flat). Upsert."""
    values = dict(
        run_id=run_id,
        symbol=symbol,
        quantity=float(quantity),
        avg_price=float(avg_price),
        realized_pnl=float(realized_pnl),
        updated_at=utcnow(),
    )
    with write_transaction(engine) as conn:
        conn.execute(
            upsert(
                conn, Position.__table__, ["run_id", "symbol"], ["quantity", "avg_price", "realized_pnl", "updated_at"]
            ).values(**values)
        )


def list_positions(engine: Engine | Connection, run_id: int, *, open_only: bool = False) -> list[dict[str, Any]]:
    """Positions of a run by symbol; ``open_only`` leaves out flat ones."""
    stmt = select(Position.__table__).where(Position.run_id == run_id).order_by(Position.symbol)
    if open_only:
        stmt = stmt.where(Position.quantity != 0)
    return _dicts(engine, stmt)
