"""REST routes over the store: health, market data, prediction, portfolio."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import text

from tradingmodel.api import schemas
from tradingmodel.api.security import require_key
from tradingmodel.services import bars as bar_service
from tradingmodel.services import portfolio as portfolio_service
from tradingmodel.services import predict as predict_service

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorBody, "description": desc}
    for code, desc in (
        (400, "malformed request body"),
        (401, "missing API key"),
        (403, "wrong API key"),
        (404, "not found"),
        (409, "conflict with the current state"),
        (413, "request body too large"),
        (422, "invalid request"),
        (503, "database not answering"),
    )
}

router = APIRouter(responses=ERRORS)
secured = [Depends(require_key)]


@router.get("/health", response_model=schemas.Health, tags=["health"])
def health(request: Request) -> dict[str, Any]:
    """Whether the server and its database answer (no key needed)."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "database": True}
    except Exception as e:
        return {"status": "degraded", "database": False, "detail": f"database: {type(e).__name__}"}


@router.get("/api/v1/market-data/{symbol}", response_model=schemas.BarPage, dependencies=secured, tags=["market data"])
def market_data(
    request: Request,
    symbol: Annotated[str, Path(min_length=1, max_length=32)],
    timeframe: Annotated[str, Query(max_length=8)] = "1m",
    start: Annotated[str | None, Query(max_length=40, description="first bar time, ISO 8601 (naive = UTC)")] = None,
    end: Annotated[str | None, Query(max_length=40, description="exclusive end, ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=bar_service.MAX_PAGE_BARS)] = 1000,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> Response:
    """Stored bars of ``symbol`` with SMA20, EMA20, RSI14, 20-bar mean volume and return stdev, oldest first,
    keyset-paginated."""
    page = bar_service.bar_page(
        request.app.state.engine, symbol, timeframe=timeframe, start=start, end=end, limit=limit, cursor=cursor
    )
    return Response(bar_page_json(page), media_type="application/json")


def bar_page_json(page: bar_service.BarPage) -> bytes:
    """``page`` as :class:`schemas.BarPage` JSON, built from its columns and serialised once by orjson
    (NaN → null, UTC times with ``Z``). For 1,000 bars, in-process: the row dicts (3.9 ms), pydantic's
    validation (1.5 ms) and dump (1.3 ms) of the response model gave way to this (2.1 ms); the page itself is
    ~9 ms. ``tests/api`` checks the body against the schema."""
    f = page.bars
    names = bar_service.INDICATOR_NAMES
    cols = [f[c].tolist() for c in ("open", "high", "low", "close", "volume", "vwap", "transactions")]
    ind = zip(*(f[n].tolist() for n in names), strict=True)
    rows = [
        {
            "timestamp": ts,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": v,
            "vwap": vw,
            "transactions": tx,
            "indicators": dict(zip(names, values, strict=True)),
        }
        for ts, o, h, lo, c, v, vw, tx, values in zip(f["timestamp"].dt.to_pydatetime(), *cols, ind, strict=True)
    ]
    body = {"symbol": page.symbol, "timeframe": page.timeframe, "bars": rows, "next_cursor": page.next_cursor}
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


@router.post(
    "/api/v1/analysis/predict", response_model=schemas.PredictResponse, dependencies=secured, tags=["analysis"]
)
def analysis_predict(request: Request, body: schemas.PredictRequest) -> dict[str, Any]:
    """The predicted next close after the last bar (stored, or the posted ``bars``), its calibrated
    confidence, and the entry the strategy would take with each rule's outcome."""
    bars = [b.model_dump(exclude_none=True) for b in body.bars] if body.bars is not None else None
    p = predict_service.predict_next(
        request.app.state.engine,
        body.symbol,
        request.app.state.cfg.app_config.trading,
        model_id=body.model_id,
        bars=bars,
    )
    out = asdict(p)
    out["bar_time"] = p.bar_time.to_pydatetime()
    return out


@router.get("/api/v1/portfolio", response_model=schemas.Portfolio, dependencies=secured, tags=["portfolio"])
def portfolio(
    request: Request,
    session: Annotated[str | None, Query(max_length=200, description="session name")] = None,
) -> dict[str, Any]:
    """Cash, equity, positions with unrealised PnL, open orders, realised PnL and risk state of the
    running or last paper session (a flat book on the deposit when none has run)."""
    return asdict(portfolio_service.book(request.app.state.engine, request.app.state.cfg.app_config.trading, session))
