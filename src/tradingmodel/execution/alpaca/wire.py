"""Alpaca wire shapes → the executor contract's records (``OrderUpdate``, ``FillReport``) and back.

Numbers arrive as strings (``"10"``), timestamps with up to 9 fractional digits; an order's status is one
of alpaca-py's 18 values and maps onto our 7-state machine (:data:`STATUS`). A bracket's legs carry
server-made client ids, so they are renamed ``<entry id>-tp`` / ``<entry id>-sl`` (:func:`leg_id`): the
engine sees deterministic ids for every order, legs included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.requests import (
    OrderRequest as AlpacaOrderRequest,
)

from tradingmodel.execution.orders import FillReport, OrderRequest, OrderStatus, OrderUpdate

#: Alpaca order status → our state machine's.
STATUS: dict[str, OrderStatus] = {
    "new": "submitted",
    "accepted": "submitted",
    "pending_new": "submitted",
    "accepted_for_bidding": "submitted",
    "held": "submitted",
    "pending_cancel": "submitted",
    "pending_replace": "submitted",
    "calculated": "submitted",
    "stopped": "submitted",
    "suspended": "submitted",
    "pending_review": "submitted",
    "done_for_day": "submitted",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "canceled",
    "rejected": "rejected",
}
LEG_SUFFIX = {"limit": "tp", "stop": "sl", "stop_limit": "sl"}


def fnum(x: Any, default: float = 0.0) -> float:
    """A string-encoded number (or None) as float."""
    return default if x is None or x == "" else float(x)


def parse_time(t: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset, up to 9 fractional digits) as an aware UTC datetime."""
    return datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC)


def leg_id(parent_client_order_id: str, leg: dict[str, Any]) -> str:
    """The deterministic id we give a bracket/OCO leg: ``<parent>-tp`` or ``<parent>-sl``."""
    return f"{parent_client_order_id}-{LEG_SUFFIX.get(leg.get('type') or '', 'leg')}"


def status_of(order: dict[str, Any]) -> OrderStatus:
    s = str(order.get("status"))
    if s == "done_for_day" and fnum(order.get("filled_qty")) > 0:
        return "partially_filled"
    return STATUS.get(s, "submitted")


def to_update(order: dict[str, Any], client_order_id: str | None = None, message: str | None = None) -> OrderUpdate:
    """An Alpaca Order dict as our :class:`OrderUpdate` (``client_order_id`` overrides a leg's server id)."""
    avg = order.get("filled_avg_price")
    return OrderUpdate(
        client_order_id=client_order_id or str(order["client_order_id"]),
        status=status_of(order),
        broker_order_id=str(order["id"]),
        filled_quantity=fnum(order.get("filled_qty")),
        filled_avg_price=None if avg is None else float(avg),
        message=message,
    )


def execution_id(activity_id: str) -> str:
    """The execution id inside a FILL activity id (``20260302150405123::<uuid>``)."""
    return activity_id.rsplit("::", 1)[-1]


def stream_fill(data: dict[str, Any], client_order_id: str) -> FillReport:
    """A trade_updates ``fill``/``partial_fill`` event as a :class:`FillReport` (``qty`` is this execution's)."""
    o = data["order"]
    return FillReport(
        fill_id=str(data.get("execution_id") or f"{o['id']}:{o['filled_qty']}"),
        client_order_id=client_order_id,
        symbol=str(o["symbol"]),
        side=o["side"],
        quantity=fnum(data.get("qty")),
        price=fnum(data.get("price")),
        commission=0.0,
        timestamp=parse_time(str(data["timestamp"])),
    )


def activity_fill(row: dict[str, Any], client_order_id: str) -> FillReport:
    """A FILL account activity as a :class:`FillReport` with the same ``fill_id`` the stream gave it."""
    return FillReport(
        fill_id=execution_id(str(row["id"])),
        client_order_id=client_order_id,
        symbol=str(row["symbol"]),
        side=row["side"],
        quantity=fnum(row["qty"]),
        price=fnum(row["price"]),
        commission=0.0,
        timestamp=parse_time(str(row["transaction_time"])),
    )


def order_request(order: OrderRequest, qty: float, *, bracket: bool) -> AlpacaOrderRequest:
    """Our order as alpaca-py's request model: ``day`` (``cls`` for market-on-close), our client id, a
    bracket when asked and possible."""
    side = OrderSide.BUY if order.side == "buy" else OrderSide.SELL
    tif = TimeInForce.CLS if order.order_type == "market_on_close" else TimeInForce.DAY
    common: dict[str, Any] = {
        "symbol": order.symbol,
        "qty": qty,
        "side": side,
        "time_in_force": tif,
        "client_order_id": order.client_order_id,
    }
    if bracket:
        common.update(
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=order.take_profit),
            stop_loss=StopLossRequest(stop_price=order.stop_loss),
        )
    if order.order_type == "limit":
        return LimitOrderRequest(limit_price=order.limit_price, **common)
    if order.order_type == "stop":
        return StopOrderRequest(stop_price=order.stop_price, **common)
    return MarketOrderRequest(**common)


def oco_request(
    client_order_id: str, symbol: str, side: str, qty: float, take_profit: float, stop_loss: float
) -> LimitOrderRequest:
    """A one-cancels-other exit (take-profit limit with a stop-loss leg) for a position already held."""
    return LimitOrderRequest(
        symbol=symbol,
        qty=qty,
        side=OrderSide.BUY if side == "buy" else OrderSide.SELL,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
        order_class=OrderClass.OCO,
        limit_price=take_profit,
        take_profit=TakeProfitRequest(limit_price=take_profit),
        stop_loss=StopLossRequest(stop_price=stop_loss),
    )
