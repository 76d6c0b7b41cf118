"""The book of a paper/live session, read from the money tables (orders, fills, positions) and events.

Cash is rebuilt from the fills (deposit − bought value + sold value − commissions), so it is exactly what
the stored executions imply, whichever process wrote them; positions and realised PnL are the
``positions`` rows; each open position is marked at the last bar the session logged for its symbol (an
event of type ``bar``), or at its average price when none is logged yet. The risk state is the data of
the session's newest ``risk`` event (or the ``risk`` part of its newest ``portfolio`` event).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, case, func, select

from tradingmodel.config import TradingConfig
from tradingmodel.execution.orders import TERMINAL
from tradingmodel.services.errors import NotFound
from tradingmodel.store import list_positions
from tradingmodel.store.schema import Event, Fill, Order, Run

SESSION_KINDS = ("paper", "live")


@dataclass
class Book:
    """Cash, equity, positions with unrealised PnL, open orders, realised PnL and risk state."""

    session: dict[str, Any] | None  # id, name, kind, status, started, finished; None = no session yet
    deposit: float
    cash: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    positions: list[dict[str, Any]] = field(default_factory=list)
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    risk: dict[str, Any] = field(default_factory=dict)


def _session(engine: Engine, name: str | None) -> dict[str, Any] | None:
    r = Run
    stmt = select(Run.__table__).where(r.kind.in_(SESSION_KINDS))
    if name is not None:
        stmt = stmt.where(r.name == name)
    # the running session first, then the newest
    stmt = stmt.order_by(case((r.status == "running", 0), else_=1), r.created_at.desc(), r.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None and name is not None:
        raise NotFound(f"no paper or live session named {name!r}")
    return dict(row._mapping) if row is not None else None


def _deposit(config_toml: str, default: float) -> float:
    try:
        return float(tomllib.loads(config_toml or "").get("trading", {}).get("deposit", default))
    except (tomllib.TOMLDecodeError, TypeError, ValueError):
        return default


def _cash_flows(engine: Engine, run_id: int) -> float:
    """Sold value − bought value − commissions over the run's fills."""
    f = Fill
    signed = case((f.side == "sell", f.quantity * f.price), else_=-f.quantity * f.price)
    stmt = (
        select(func.coalesce(func.sum(signed), 0.0), func.coalesce(func.sum(f.commission), 0.0))
        .join(Order, Order.id == f.order_id)
        .where(Order.run_id == run_id)
    )
    with engine.connect() as conn:
        flow, comm = conn.execute(stmt).one()
    return float(flow) - float(comm)


def _last_event(engine: Engine, run_id: int, type_: str, symbol: str | None = None) -> dict[str, Any] | None:
    e = Event
    stmt = select(e.data).where(e.run_id == run_id, e.type == type_)
    if symbol is not None:
        stmt = stmt.where(e.symbol == symbol)
    with engine.connect() as conn:
        data = conn.execute(stmt.order_by(e.id.desc()).limit(1)).scalar()
    return data if isinstance(data, dict) else None


def _open_orders(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    o = Order
    stmt = (
        select(
            o.client_order_id,
            o.symbol,
            o.side,
            o.quantity,
            o.filled_quantity,
            o.order_type,
            o.limit_price,
            o.stop_price,
            o.status,
            o.reason,
            o.bar_time,
            o.created_at,
        )
        .where(o.run_id == run_id, o.status.not_in(sorted(TERMINAL)))
        .order_by(o.created_at, o.id)
        .limit(1000)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def book(engine: Engine, trading: TradingConfig, session: str | None = None) -> Book:
    """The book of session ``session`` (by name), else of the running or newest paper/live session; a
    flat book on ``trading.deposit`` when no session has run. :class:`NotFound` for an unknown name."""
    run = _session(engine, session)
    if run is None:
        d = trading.deposit
        return Book(None, d, d, d, 0.0, 0.0)
    rid = int(run["id"])
    deposit = _deposit(run["config_toml"], trading.deposit)
    cash = deposit + _cash_flows(engine, rid)
    positions, unrealised, realised, market = [], 0.0, 0.0, 0.0
    for p in list_positions(engine, rid):
        realised += float(p["realized_pnl"])
        qty = float(p["quantity"])
        if qty == 0:
            continue
        bar = _last_event(engine, rid, "bar", p["symbol"]) or {}
        last = bar.get("close")
        last = float(last) if isinstance(last, int | float) else float(p["avg_price"])
        upnl = qty * (last - float(p["avg_price"]))
        unrealised += upnl
        market += qty * last
        positions.append(
            {
                "symbol": p["symbol"],
                "quantity": qty,
                "avg_price": float(p["avg_price"]),
                "last_price": last,
                "market_value": qty * last,
                "unrealized_pnl": upnl,
                "realized_pnl": float(p["realized_pnl"]),
                "updated_at": p["updated_at"],
            }
        )
    risk = _last_event(engine, rid, "risk")
    if risk is None:
        risk = (_last_event(engine, rid, "portfolio") or {}).get("risk") or {}
    info = {
        "id": rid,
        "name": run["name"],
        "kind": run["kind"],
        "status": run["status"],
        "started_at": run["created_at"],
        "finished_at": run["finished_at"],
        "symbols": run["symbols"] or [],
    }
    return Book(
        info,
        deposit,
        cash,
        cash + market,
        realised,
        unrealised,
        positions,
        _open_orders(engine, rid),
        risk if isinstance(risk, dict) else {},
    )
