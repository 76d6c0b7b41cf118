"""The executor interface: what the live engine needs from anything that fills orders.

Implemented by the paper executor (fills at the next bar's open with the backtest's fill model) and by
broker adapters (Alpaca). Shaped after Alpaca's REST + trade-update stream so that a real broker fits
without a translation layer in the engine: submit by client order id, look up by client order id (how a
timed-out submit is resolved), open orders, positions, account, and a stream of fills that may repeat
(the engine deduplicates by ``FillReport.fill_id``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd

from tradingmodel.execution.orders import FillReport, OrderRequest, OrderUpdate


@dataclass(frozen=True)
class AccountState:
    """Cash and equity as the executor (or broker) reports them; ``buying_power`` where it applies."""

    cash: float
    equity: float
    buying_power: float | None = None
    trading_blocked: bool = False
    shorting_enabled: bool = True
    fractional: bool = False


class ExecutorError(RuntimeError):
    """An executor could not do what was asked; the message names the order or symbol."""


@runtime_checkable
class Executor(Protocol):
    """Anything that accepts orders and reports fills. All methods are coroutines on the engine's loop;
    a blocking client is wrapped by the adapter (``asyncio.to_thread``) with its own deadline."""

    name: str
    #: whether resting stop/target legs survive at the executor while the engine is down; False: the live
    #: session's strategy emulates them (market exits decided at a bar's close, nothing fires while it is down)
    holds_protective_orders: bool

    async def start(self) -> None:
        """Connect, check the account; raise :class:`ExecutorError` with a clear message otherwise."""

    async def close(self) -> None:
        """Disconnect; never cancels orders (a restart reconciles them)."""

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Place ``order`` once. Submitting an id the executor already has returns that order's state."""

    async def cancel(self, client_order_id: str) -> OrderUpdate:
        """Cancel an open order (a fill may win the race: the update says which)."""

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        """The order with this client id, or None when the executor never received it."""

    async def open_orders(self) -> list[OrderUpdate]:
        """Orders not yet in a terminal state."""

    async def positions(self) -> dict[str, float]:
        """Signed share quantity per symbol (short < 0); the broker's book is the truth."""

    async def account(self) -> AccountState:
        """Cash, equity and trading permissions."""

    async def fills_since(self, since: pd.Timestamp | None) -> list[FillReport]:
        """Fills after ``since`` (reconciliation on start and after a stream reconnect)."""

    def fills(self) -> AsyncIterator[FillReport]:
        """Fills as they happen; may repeat a fill (deduplicate by ``fill_id``)."""

    async def on_bars(self, bars: pd.DataFrame) -> Sequence[FillReport]:
        """A time slice of bars arrived (one row per symbol). The paper executor fills pending and resting
        orders on them and returns those fills (also delivered on :meth:`fills`); a broker returns ()."""
