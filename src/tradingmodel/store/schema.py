"""SQLAlchemy 2 models: one schema for SQLite and PostgreSQL.

The tables are created by the Alembic migrations in ``store/migrations`` (never by ``create_all``); a test
checks that the migrated schema and these models agree. Indexes follow the queries the API and the CLI make
(bars by symbol/timeframe/time range; orders, fills, positions by run; newest runs/models first).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tradingmodel.store.types import BigIntId, JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware UTC (default for ``created_at`` columns)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class MarketData(Base):
    """One OHLCV bar. The primary key (symbol, timeframe, timestamp) is the uniqueness the upsert relies on."""

    __tablename__ = "market_data"
    __table_args__ = {"sqlite_with_rowid": False}  # clustered by (symbol, timeframe, timestamp) on SQLite

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)  # start of the bar, UTC
    open: Mapped[float] = mapped_column(Double())
    high: Mapped[float] = mapped_column(Double())
    low: Mapped[float] = mapped_column(Double())
    close: Mapped[float] = mapped_column(Double())
    volume: Mapped[int] = mapped_column(BigInteger())
    vwap: Mapped[float | None] = mapped_column(Double())
    transactions: Mapped[int | None] = mapped_column(BigInteger())
    indicators: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class FetchProgress(Base):
    """A downloaded range [range_start, range_end) whose bars are stored (resumable Polygon fetches)."""

    __tablename__ = "fetch_progress"
    __table_args__ = (UniqueConstraint("symbol", "timeframe", "range_start", "range_end"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(8))
    range_start: Mapped[datetime] = mapped_column(UTCDateTime())
    range_end: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Model(Base):
    """Registry of model checkpoints with their evaluation metrics."""

    __tablename__ = "models"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text, unique=True)  # checkpoint file
    symbols: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timeframe: Mapped[str] = mapped_column(String(8), default="1m")
    config_toml: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    data_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Prediction(Base):
    """A prediction made after bar ``timestamp`` closed, for the close ``horizon`` bars later."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("model_id", "symbol", "timeframe", "horizon", "timestamp"),
        Index(None, "symbol", "timeframe", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(8), default="1m")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    horizon: Mapped[int] = mapped_column(Integer, default=1)  # bars ahead
    predicted_price: Mapped[float] = mapped_column(Double())
    confidence: Mapped[float | None] = mapped_column(Double())
    signals: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # entry rules passed, decision, rejection
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrainingJob(Base):
    """A training request and its outcome (queued → running → ``store.jobs.JOB_TERMINAL``)."""

    __tablename__ = "training_jobs"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    symbols: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timeframe: Mapped[str] = mapped_column(String(8), default="1m")
    config_toml: Mapped[str] = mapped_column(Text, default="")
    data_hash: Mapped[str | None] = mapped_column(String(128))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the request's start/end/overrides
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # epoch, losses, samples/s
    cancel_requested: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Run(Base):
    """A backtest or a paper/live session, with the config and data hash needed to reproduce it."""

    __tablename__ = "runs"
    __table_args__ = (Index(None, "kind", "created_at"), Index(None, "name", unique=True))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(200))  # a paper/live session's name (continued on restart)
    kind: Mapped[str] = mapped_column(String(16))  # backtest | paper | live | walkforward
    status: Mapped[str] = mapped_column(String(16), default="finished")
    config_toml: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the options it ran with (walk-forward)
    data_hash: Mapped[str | None] = mapped_column(String(128))
    symbols: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timeframe: Mapped[str] = mapped_column(String(8), default="1m")
    data_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Order(Base):
    """An order as submitted to a broker (paper or real); stored before it is acknowledged."""

    __tablename__ = "orders"
    __table_args__ = (Index(None, "run_id", "created_at"), Index(None, "symbol", "created_at"), Index(None, "status"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))  # buy | sell
    quantity: Mapped[float] = mapped_column(Double())  # shares, > 0
    order_type: Mapped[str] = mapped_column(String(16), default="market")
    limit_price: Mapped[float | None] = mapped_column(Double())
    stop_price: Mapped[float | None] = mapped_column(Double())
    status: Mapped[str] = mapped_column(String(16), default="new")
    reason: Mapped[str | None] = mapped_column(String(32))  # entry | stop_loss | take_profit | ...
    bar_time: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the bar the decision was made after
    filled_quantity: Mapped[float] = mapped_column(Double(), default=0.0, server_default=text("0"))
    message: Mapped[str | None] = mapped_column(Text)  # the broker's reason for a rejection or cancel
    parent_client_order_id: Mapped[str | None] = mapped_column(String(64))  # entry of a stop/target leg
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Fill(Base):
    """An execution of (part of) an order. Commission is in account currency."""

    __tablename__ = "fills"
    __table_args__ = (
        Index(None, "order_id"),
        Index(None, "symbol", "timestamp"),
        Index(None, "broker_fill_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column(Double())
    price: Mapped[float] = mapped_column(Double())
    commission: Mapped[float] = mapped_column(Double(), default=0.0)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    broker_fill_id: Mapped[str | None] = mapped_column(String(128))  # executor's execution id: applied once


class Position(Base):
    """The current position of one symbol in one run (signed quantity: negative = short)."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("run_id", "symbol"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[float] = mapped_column(Double())
    avg_price: Mapped[float] = mapped_column(Double())
    realized_pnl: Mapped[float] = mapped_column(Double(), default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SessionState(Base):
    """The strategy snapshot of a paper/live session and the last bar it processed (one row per run)."""

    __tablename__ = "session_state"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    format_version: Mapped[int] = mapped_column(Integer)
    last_bar_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snapshot: Mapped[bytes] = mapped_column(LargeBinary())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    """One entry of the append-only event log (bar, prediction, signal, order, fill, portfolio, risk, job).

    Written in the same transaction as the state it describes; ``id`` increases monotonically, so a reader
    (the API's WebSocket) resumes after the last id it saw, also across processes."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "run_id", "id"), Index(None, "type", "id"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str | None] = mapped_column(String(32))
    bar_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
