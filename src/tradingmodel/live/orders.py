"""The engine's open orders: reconciliation on start, status polling, stale-order cancels, submits.

What should be open is a function of the strategy state alone (a protective leg while its position is held
and not being exited, an entry while the strategy still waits for it), so the cancels after a restart are
the same as those a crash interrupted. Reconciliation never guesses: an order the store says was submitted
but the executor does not know, or an executor fill of an order the store does not have, stops the engine
with a message naming the order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pandas as pd

from tradingmodel.execution.base import Executor
from tradingmodel.execution.orders import TERMINAL, FillReport, OrderRequest, OrderUpdate
from tradingmodel.live.events import Publisher
from tradingmodel.live.strategy import SNAPSHOT_FORMAT, LiveStrategy, StrategyFill
from tradingmodel.store.sessions import EventRow, SessionStore

LEGS = ("stop_loss", "take_profit")
_US = timedelta(microseconds=1)


class EngineError(RuntimeError):
    """The engine cannot go on safely; the message says why (names the order or fill)."""


def _same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_fills(expected: Sequence[StrategyFill], got: Sequence[FillReport], symbols: Sequence[str], when: Any) -> None:
    """The strategy's own bookings must equal the executor's fills, in order (interim, until the strategy
    takes its fills from the executor): any difference stops the engine."""
    if len(expected) != len(got):
        raise EngineError(
            f"{when}: the strategy booked {len(expected)} fill(s) and the executor reported "
            f"{len(got)}: {[symbols[f.symbol] for f in expected]} vs {[f.symbol for f in got]}"
        )
    for e, g in zip(expected, got, strict=True):
        side = "buy" if e.side > 0 else "sell"
        if (
            symbols[e.symbol] != g.symbol
            or side != g.side
            or not _same(e.quantity, g.quantity)
            or not _same(e.price, g.price)
            or not _same(e.commission, g.commission)
        ):
            raise EngineError(
                f"{when}: fill {g.fill_id} ({g.symbol} {g.side} {g.quantity} @ {g.price}) differs from "
                f"the strategy's ({symbols[e.symbol]} {side} {e.quantity} @ {e.price})"
            )


def _request(o: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        o["client_order_id"],
        o["symbol"],
        o["side"],
        o["quantity"],
        o["order_type"],
        o["reason"],
        o["bar_time"],
        limit_price=o["limit_price"],
        stop_price=o["stop_price"],
        parent_client_order_id=o["parent_client_order_id"],
    )


class OrderBook:
    """Mirror of the session's non-terminal orders and the executor calls that move them."""

    def __init__(
        self, store: SessionStore, executor: Executor, crash: Callable[[str], None], publisher: Publisher
    ) -> None:
        self.store, self.executor, self.crash, self.publisher = store, executor, crash, publisher
        self.open: dict[str, dict[str, Any]] = {}
        self.realized: dict[str, float] = {}

    async def load(self) -> None:
        self.open = {o["client_order_id"]: o for o in self.store.open_orders()}
        self.realized = {s: p["realized_pnl"] for s, p in self.store.positions().items()}

    def publish(self, events: Sequence[EventRow]) -> None:
        for e in events:
            if e.type == "fill" and e.symbol:
                self.realized[e.symbol] = float(e.data["realized_pnl"])
        self.publisher.publish(events)

    def realized_total(self) -> float:
        return float(sum(self.realized.values()))

    @staticmethod
    def order_data(o: OrderRequest, status: str) -> dict[str, Any]:
        return {
            "client_order_id": o.client_order_id,
            "side": o.side,
            "quantity": o.quantity,
            "order_type": o.order_type,
            "purpose": o.purpose,
            "status": status,
            "limit_price": o.limit_price,
            "stop_price": o.stop_price,
            "parent_client_order_id": o.parent_client_order_id,
            "filled_quantity": 0.0,
            "message": None,
        }

    # --- start ------------------------------------------------------------------------------
    async def reconcile(self, last: pd.Timestamp | None, strategy: LiveStrategy) -> None:
        """Resolve every ``new``/``submitted`` order against the executor by client order id, record the
        executor's fills of slices already processed, then cancel what the strategy no longer wants and
        submit the committed decisions the executor never received."""
        ups, to_submit = [], []
        for cid, o in self.open.items():
            u = await self.executor.get_order(cid)
            if u is None:
                if o["status"] == "new":
                    to_submit.append(_request(o))
                    continue
                raise EngineError(
                    f"order {cid} ({o['symbol']} {o['side']} {o['quantity']:g}, {o['reason']}) is "
                    f"{o['status']} in the store but unknown to the {self.executor.name} executor: "
                    "cannot tell whether it was placed; resolve it at the broker and in the store"
                )
            if u.status in ("filled", "partially_filled"):
                if o["status"] == "new":  # its fill comes with the bars (or below, when already processed)
                    ups.append(OrderUpdate(cid, "submitted", u.broker_order_id))
            elif u.status != o["status"]:
                ups.append(u)
        if self.open and last is not None:
            since = min(pd.Timestamp(o["bar_time"]) for o in self.open.values()) - _US
            known = {o["client_order_id"] for o in self.store.orders()}
            fills = [f for f in await self.executor.fills_since(since) if pd.Timestamp(f.timestamp) <= last]
            for f in fills:
                if f.client_order_id not in known:
                    raise EngineError(
                        f"fill {f.fill_id} at the {self.executor.name} executor belongs to order "
                        f"{f.client_order_id}, which this session never stored"
                    )
            self.publish(
                self.store.set_status(
                    ups,
                    [
                        EventRow(
                            "session", {"state": "reconciled", "message": f"{len(self.open)} open order(s) checked"}
                        )
                    ],
                )
            )
            self.publish(self.store.record_fills(fills, strategy.snapshot(), SNAPSHOT_FORMAT, last.to_pydatetime()))
        elif ups:
            self.publish(self.store.set_status(ups))
        await self.load()
        index = {s: i for i, s in enumerate(strategy.symbols)}
        await self.send(self.stale(strategy, index), to_submit, expected={}, snapshot=strategy.snapshot, last=last)

    # --- per slice ----------------------------------------------------------------------------
    async def poll(self, symbols: Sequence[str]) -> list[OrderUpdate]:
        """Status changes at the executor (canceled, rejected, expired) of open orders of ``symbols``."""
        wanted = set(symbols)
        out = []
        for cid, o in self.open.items():
            if o["symbol"] not in wanted or o["status"] == "new":
                continue
            u = await self.executor.get_order(cid)
            if u is not None and u.status in TERMINAL and u.status != "filled":
                out.append(u)
        return out

    def tentative(self, fills: Sequence[FillReport], updates: Sequence[OrderUpdate]) -> None:
        """Drop orders the slice's fills and updates close (before deciding what is stale)."""
        for f in fills:
            o = self.open.get(f.client_order_id)
            if o is not None and f.quantity >= o["quantity"] - o["filled_quantity"] - 1e-9:
                self.open.pop(f.client_order_id)
        for u in updates:
            self.open.pop(u.client_order_id, None)

    def stale(self, strategy: LiveStrategy, index: dict[str, int]) -> list[str]:
        """Open orders the strategy no longer wants: legs of a position that is gone or being exited, entries
        it stopped waiting for (halt, end of session)."""
        out = []
        for cid, o in self.open.items():
            i = index[o["symbol"]]
            side, _ = strategy.position(i)
            pend = strategy.pending(i)
            leg_gone = o["reason"] in LEGS and (side == 0 or pend == 2)
            if leg_gone or (o["reason"] == "entry" and pend not in (1, -1)):
                out.append(cid)
        return out

    async def legs_of(self, fills: Sequence[FillReport]) -> list[dict[str, Any]]:
        """The protective orders the executor opened for the entries among ``fills``."""
        details = getattr(self.executor, "order_details", None)
        if details is None:
            return []
        from tradingmodel.execution.paper import leg_ids

        out = []
        for f in fills:
            if f.client_order_id.startswith("tm-entry-"):
                for cid in leg_ids(f.client_order_id).values():
                    d = await details(cid)
                    if d is not None:
                        out.append(d)
        return out

    def committed(self, orders: Sequence[OrderRequest], legs: Sequence[dict[str, Any]]) -> None:
        for o in orders:
            self.open[o.client_order_id] = {
                "client_order_id": o.client_order_id,
                "symbol": o.symbol,
                "side": o.side,
                "quantity": o.quantity,
                "order_type": o.order_type,
                "reason": o.purpose,
                "status": "new",
                "bar_time": o.bar_time,
                "limit_price": o.limit_price,
                "stop_price": o.stop_price,
                "filled_quantity": 0.0,
                "parent_client_order_id": o.parent_client_order_id,
            }
        for leg in legs:
            self.open[leg["cid"]] = {
                "client_order_id": leg["cid"],
                "symbol": leg["symbol"],
                "side": leg["side"],
                "quantity": leg["quantity"],
                "reason": leg["purpose"],
                "status": "submitted",
                "bar_time": leg["bar_time"],
                "filled_quantity": 0.0,
            }

    async def send(
        self,
        cancels: Sequence[str],
        orders: Sequence[OrderRequest],
        *,
        expected: dict[str, StrategyFill],
        snapshot: Callable[[], bytes],
        last: pd.Timestamp | None,
    ) -> None:
        """Cancel ``cancels`` then submit ``orders`` (their decision is committed); record what comes back."""
        for cid in cancels:
            o = self.open.pop(cid)
            if o["status"] == "new":  # never sent: canceled here
                self.publish(self.store.set_status([OrderUpdate(cid, "canceled", message="not sent: stale")]))
                continue
            u = await self.executor.cancel(cid)
            self.crash("after_cancel")
            self.publish(self.store.set_status([u]))
        ups = []
        for o in orders:
            u = await self.executor.submit(o)
            self.crash("after_submit")
            if u.status not in ("filled", "partially_filled"):
                if u.status in TERMINAL:
                    self.open.pop(o.client_order_id, None)
                else:
                    self.open[o.client_order_id]["status"] = u.status
                ups.append(u)
                continue
            fills = [
                f
                for f in await self.executor.fills_since(pd.Timestamp(o.bar_time) - _US)
                if f.client_order_id == o.client_order_id
            ]
            if o.symbol in expected:
                exp = expected[o.symbol]
                check_fills(
                    [
                        StrategyFill(
                            0, exp.side, exp.quantity, exp.price, exp.reference_price, exp.commission, exp.purpose
                        )
                    ],
                    fills,
                    [o.symbol],
                    o.bar_time,
                )
            self.crash("before_fill_record")
            self.publish(
                self.store.record_fills(
                    fills, snapshot(), SNAPSHOT_FORMAT, None if last is None else last.to_pydatetime()
                )
            )
            self.open.pop(o.client_order_id, None)
        if ups:
            self.publish(self.store.set_status(ups))
