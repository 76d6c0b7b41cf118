"""Request and response bodies of the REST API (they make the OpenAPI schema that the tests check)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tradingmodel.store.jobs import JOB_STATUSES

Number = float | None


class ErrorBody(BaseModel):
    """Every error: one message saying what is wrong (and, for a malformed request, where)."""

    detail: str


class Indicators(BaseModel):
    sma20: Number
    ema20: Number
    rsi14: Number
    volume_sma20: Number
    ret_std20: Number


class Bar(BaseModel):
    timestamp: datetime = Field(description="start of the bar, UTC")
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: Number = None
    transactions: Number = None
    indicators: Indicators


class BarPage(BaseModel):
    symbol: str
    timeframe: str
    bars: list[Bar]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class PostedBar(BaseModel):
    """A bar in a request body; checked like a row of a bar file (ISO 8601 with offset, or epoch ms)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str | int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None = None
    transactions: float | None = None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32)
    model_id: int | None = Field(None, ge=1, le=2**62)
    bars: list[PostedBar] | None = Field(
        None, max_length=5000, description="bars to predict from instead of the stored ones"
    )


class Rule(BaseModel):
    rule: str
    passed: bool
    value: Number
    threshold: Number


class Signal(BaseModel):
    decision: str = Field(description="long | short | none")
    reason: str
    long_rules: list[Rule]
    short_rules: list[Rule]


class PredictResponse(BaseModel):
    symbol: str
    model_id: int
    bar_time: datetime = Field(description="the bar after whose close the prediction was made")
    close: float
    predicted_close: float = Field(description="forecast of the next bar's close")
    confidence: float = Field(description="calibrated probability that the predicted direction is right")
    signal: Signal


class Position(BaseModel):
    symbol: str
    quantity: float
    avg_price: float
    last_price: float
    market_value: float
    unrealized_pnl: float
    realized_pnl: float
    updated_at: datetime | None


class OpenOrder(BaseModel):
    client_order_id: str
    symbol: str
    side: str
    quantity: float
    filled_quantity: float
    order_type: str
    limit_price: Number
    stop_price: Number
    status: str
    reason: str | None
    bar_time: datetime | None
    created_at: datetime


class SessionInfo(BaseModel):
    id: int
    name: str | None
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    symbols: list[str]


class Portfolio(BaseModel):
    session: SessionInfo | None = Field(description="null: no session has run yet (a flat book on the deposit)")
    deposit: float
    cash: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    positions: list[Position]
    open_orders: list[OpenOrder]
    risk: dict[str, Any]


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[str] = Field(min_length=1, max_length=20)
    start: str | None = Field(None, max_length=40, description="first bar time (ISO 8601; a date = midnight UTC)")
    end: str | None = Field(None, max_length=40, description="end of the range; a date includes that day")
    timeframe: str = Field("1m", max_length=8)
    params: dict[str, Any] | None = Field(
        None, description="[model] overrides (e.g. num_epochs, hidden_size) and `pooled`"
    )


class Job(BaseModel):
    id: int
    status: str = Field(description=" | ".join(JOB_STATUSES))
    symbols: list[str]
    timeframe: str
    params: dict[str, Any] | None
    progress: dict[str, Any] | None = Field(description="last epoch: model, epoch, train/val loss, samples/s")
    cancel_requested: bool
    model_id: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobAccepted(BaseModel):
    job_id: int
    status: str
    job: Job


class ModelInfo(BaseModel):
    id: int
    name: str
    path: str
    symbols: list[str]
    timeframe: str
    created_at: datetime
    metrics: dict[str, Any] = Field(description="evaluation on unseen bars beside the persistence and AR baselines")


class ModelStatus(BaseModel):
    models: list[ModelInfo]
    active: dict[str, int] = Field(description="symbol → id of the model predictions use by default")
    jobs: list[Job]


class Health(BaseModel):
    status: str
    database: bool
    detail: str | None = None
