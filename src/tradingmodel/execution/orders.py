"""Order records and the one order state machine that every executor and the store follow.

States: ``new`` (decided and committed, not yet sent) → ``submitted`` (the executor or broker has it)
→ ``partially_filled`` → ``filled`` | ``canceled`` | ``rejected`` | ``expired``. The table below is the
whole machine: :func:`advance` refuses any other move, so a replayed or late broker event can never take
an order backwards (a ``submitted`` arriving after ``filled`` is ignored, not applied).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

OrderStatus = Literal["new", "submitted", "partially_filled", "filled", "canceled", "rejected", "expired"]
Side = Literal["buy", "sell"]
OrderType = Literal["market", "stop", "limit", "market_on_close"]
#: Why an order exists; the strategy's exit reasons plus ``entry``.
Purpose = Literal["entry", "stop_loss", "take_profit", "time_exit", "halt_exit", "session_close", "end"]

TERMINAL: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})

#: status → statuses it may move to. Terminal states move nowhere.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"submitted", "partially_filled", "filled", "canceled", "rejected", "expired"}),
    "submitted": frozenset({"partially_filled", "filled", "canceled", "rejected", "expired"}),
    "partially_filled": frozenset({"partially_filled", "filled", "canceled", "expired"}),
    "filled": frozenset(),
    "canceled": frozenset(),
    "rejected": frozenset(),
    "expired": frozenset(),
}


class OrderStateError(ValueError):
    """A move the state machine does not allow (names the order and both states)."""


def can_advance(current: str, new: str) -> bool:
    """Whether an order in ``current`` may move to ``new`` (same state counts only for partial fills)."""
    if current not in TRANSITIONS:
        raise OrderStateError(f"unknown order status {current!r}")
    if new not in TRANSITIONS:
        raise OrderStateError(f"unknown order status {new!r}")
    return new in TRANSITIONS[current]


def advance(client_order_id: str, current: str, new: str) -> str:
    """``new`` when the move is allowed, else :class:`OrderStateError` naming the order."""
    if not can_advance(current, new):
        raise OrderStateError(f"order {client_order_id}: cannot move from {current!r} to {new!r}")
    return new


def client_order_id(session: str, bar_time: datetime, symbol: str, purpose: str, seq: int = 0) -> str:
    """Deterministic client order id: the same decision after a restart gets the same id, so a broker
    that already has it answers "duplicate" instead of placing it twice. At most 48 characters (Alpaca
    allows 128) and made of ``[a-z0-9-]`` only."""
    key = f"{session}|{bar_time.isoformat()}|{symbol.upper()}|{purpose}|{seq}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"tm-{purpose.replace('_', '')[:8]}-{digest}"


@dataclass(frozen=True)
class OrderRequest:
    """An order the strategy decided, as handed to an executor.

    ``stop_loss`` and ``take_profit`` on an entry are its protective exits (one cancels the other): an
    executor that can hold them (the simulated and paper executors, a broker's bracket/OCO legs) keeps them
    resting; the strategy never re-sends them per bar."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType
    purpose: Purpose
    bar_time: datetime  # the bar after whose close it was decided; it fills no earlier than the next bar
    limit_price: float | None = None
    stop_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    parent_client_order_id: str | None = None


@dataclass(frozen=True)
class OrderUpdate:
    """An executor's view of one order (after submit, cancel, a lookup or a stream event)."""

    client_order_id: str
    status: OrderStatus
    broker_order_id: str | None = None
    filled_quantity: float = 0.0
    filled_avg_price: float | None = None
    message: str | None = None  # the broker's reason for a rejection or cancel


@dataclass(frozen=True)
class FillReport:
    """One execution. ``fill_id`` is unique per executor (a broker's execution id): applied once."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    timestamp: datetime
    reference_price: float | None = None  # the price before slippage, where the executor knows it
