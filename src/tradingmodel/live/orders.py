"""The engine's open orders: reconciliation on start, status polling, stale-order cancels, submits, and the
translation of the executor's fills and refusals into the strategy's reports (its ``apply_fills`` phase).

What should be open is a function of the strategy state alone (a protective leg while its position is held
and not being exited, an entry while the strategy still waits for it), so the cancels after a restart are
the same as those a crash interrupted. Reconciliation never guesses: an order the store says was submitted
but the executor does not know, or an executor fill of an order the store does not have, stops the engine
with a message naming the order.

The strategy's book and the store's fills move together: every fill handed to the strategy is committed
in the same transaction as the snapshot taken after it, so on a restart the fills the store lacks are exactly
those the restored strategy has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from tradingmodel.execution.base import Executor
from tradingmodel.execution.orders import TERMINAL, FillReport, OrderRequest, OrderUpdate
from tradingmodel.execution.paper import is_leg_id, leg_ids
from tradingmodel.live.events import Publisher
from tradingmodel.live.strategy import SNAPSHOT_FORMAT, LiveStrategy
from tradingmodel.store.sessions import EventRow, SessionStore
from tradingmodel.strategy.messages import CONTRACT_PURPOSE, Fill, Report

LEGS = ("stop_loss", "take_profit")
_US = timedelta(microseconds=1)
#: the executor contract's purposes in the strategy's terms
STRATEGY_PURPOSE = {v: k for k, v in CONTRACT_PURPOSE.items()}
#: the strategy's own decisions waiting for a next open: a refusal of one of these goes back to it
AWAITED = ("entry", "time_exit", "halt_exit", "stop_loss", "take_profit")  # the last two: emulated exits


class EngineError(RuntimeError):
    """The engine cannot go on safely; the message says why (names the order or fill)."""


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
        self.purpose: dict[str, tuple[str, str]] = {}  # client id -> (symbol, contract purpose), cache

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

    # --- fills and refusals → the strategy -----------------------------------------------------
    def unrecorded(self, fills: Sequence[FillReport]) -> list[FillReport]:
        """``fills`` without those the store already has (by fill id) or repeated in the list: what the
        strategy has not been given yet (a broker may deliver a fill twice, a restart replays them)."""
        known = self.store.known_fills([f.fill_id for f in fills]) if fills else set()
        out = []
        for f in fills:
            if f.fill_id not in known:
                known.add(f.fill_id)
                out.append(f)
        return out

    def _purpose_of(self, cid: str, legs: Sequence[dict[str, Any]]) -> tuple[str, str]:
        """(symbol, contract purpose) of an order: the mirror, the legs just opened, else the store."""
        if cid in self.purpose:
            return self.purpose[cid]
        o = self.open.get(cid)
        if o is not None:
            found = (o["symbol"], o["reason"])
        else:
            leg = next((g for g in legs if g["cid"] == cid), None)
            if leg is not None:
                found = (leg["symbol"], leg["purpose"])
            elif cid.endswith(("-sl", "-tp")):
                found = ("", "stop_loss" if cid.endswith("-sl") else "take_profit")
            else:
                row = self.store.order(cid)
                if row is None:
                    raise EngineError(
                        f"fill of order {cid} at the {self.executor.name} executor: this session never stored "
                        "that order; resolve it at the broker"
                    )
                found = (row["symbol"], row["reason"])
        self.purpose[cid] = found
        return found

    def hand_over(
        self,
        strategy: LiveStrategy,
        reports: Sequence[Report],
        fills: Sequence[FillReport],
        bar: datetime | None,
        *,
        first: Sequence[EventRow] = (),
        after: Callable[[], list[EventRow]] | None = None,
        legs: Sequence[dict[str, Any]] = (),
        updates: Sequence[OrderUpdate] = (),
    ) -> None:
        """Give the strategy ``reports``, then commit ``fills`` (and ``updates``) with the snapshot taken after
        them in one transaction, so the strategy's book and the store's fills move together; the events are
        ``first`` and then ``after()``'s (the portfolio once the reports are applied)."""
        strategy.apply(reports)
        events = list(first) + (after() if after is not None else [])
        self.publish(
            self.store.record_fills(
                fills, strategy.snapshot(), SNAPSHOT_FORMAT, bar, legs=legs, events=events, updates=updates
            )
        )

    def reports(
        self,
        fills: Sequence[FillReport],
        updates: Sequence[OrderUpdate],
        strategy: LiveStrategy,
        stamp: int,
        legs: Sequence[dict[str, Any]] = (),
    ) -> list[Report]:
        """The strategy's reports for the executor's ``fills`` (in order) and for the ``updates`` that end an
        order the strategy still waits for without a fill (rejected, canceled, expired): a refused entry
        leaves the strategy flat, a refused exit is decided again."""
        index = {s: i for i, s in enumerate(strategy.symbols)}
        out: list[Report] = []
        filled: set[str] = set()
        for f in fills:
            _, purpose = self._purpose_of(f.client_order_id, legs)
            if f.symbol not in index:
                raise EngineError(
                    f"fill {f.fill_id} of order {f.client_order_id} at the {self.executor.name} executor is in "
                    f"{f.symbol}, which this session does not trade; resolve it at the broker"
                )
            out.append(
                Fill(
                    index[f.symbol],
                    1 if f.side == "buy" else -1,
                    float(f.quantity),
                    float(f.price),
                    float(f.price if f.reference_price is None else f.reference_price),
                    float(f.commission),
                    STRATEGY_PURPOSE[purpose],
                    stamp,
                )
            )
            filled.add(f.symbol)
        for u in updates:
            if u.status not in TERMINAL or u.status == "filled":
                continue
            sym, purpose = self._purpose_of(u.client_order_id, legs)
            i = index.get(sym)
            if purpose not in AWAITED or i is None or sym in filled:
                continue
            if strategy.awaits(i, STRATEGY_PURPOSE[purpose]):
                out.append(strategy.rejection(i, STRATEGY_PURPOSE[purpose], _reason(purpose, u.message)))
        return out

    # --- start ------------------------------------------------------------------------------
    async def reconcile(
        self, last: pd.Timestamp | None, strategy: LiveStrategy, after: Callable[[], list[EventRow]]
    ) -> None:
        """Resolve every ``new``/``submitted`` order against the executor by client order id; hand the
        strategy the executor's fills the store lacks (of slices already processed) and the refusals of the
        orders it waits for, committed with the snapshot; then cancel what the strategy no longer wants and
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
                if o["status"] == "new":  # its fills come below or with the bars
                    ups.append(OrderUpdate(cid, "submitted", u.broker_order_id))
            elif u.status != o["status"]:
                ups.append(u)
        if getattr(self.executor, "replays_slices", False):  # a slice after `last` comes back with its fills
            got = []
            if self.open and last is not None:
                since = min(pd.Timestamp(o["bar_time"]) for o in self.open.values()) - _US
                got = [f for f in await self.executor.fills_since(since) if pd.Timestamp(f.timestamp) <= last]
        else:  # a broker: every fill of the session it has
            got = await self.executor.fills_since(None)
        fills = self.unrecorded(got)
        legs = await self.legs_of(fills)
        reports = self.reports(fills, ups, strategy, max(strategy.stamp - 1, 0), legs)
        self.hand_over(
            strategy,
            reports,
            fills,
            None if last is None else last.to_pydatetime(),
            first=[EventRow("session", {"state": "reconciled", "message": f"{len(self.open)} open order(s) checked"})],
            after=after if fills or reports else None,
            legs=legs,
            updates=ups,
        )
        await self.load()
        index = {s: i for i, s in enumerate(strategy.symbols)}
        await self.send(self.stale(strategy, index), to_submit, strategy=strategy, last=last, after=after)

    # --- per slice ----------------------------------------------------------------------------
    async def poll(self, symbols: Sequence[str]) -> list[OrderUpdate]:
        """Status changes at the executor (canceled, rejected, expired) of open orders of ``symbols``."""
        wanted = set(symbols)
        cached = getattr(self.executor, "cached_order", None)  # a broker's stream-fed view: no request
        out = []
        for cid, o in self.open.items():
            if o["symbol"] not in wanted or o["status"] == "new":
                continue
            u = cached(cid) if cached is not None else None
            if u is None:
                u = await self.executor.get_order(cid)
            if u is not None and u.status in TERMINAL and u.status != "filled":
                out.append(u)
        return out

    def tentative(self, fills: Sequence[FillReport], updates: Sequence[OrderUpdate]) -> None:
        """Drop orders the slice's fills and updates close (before deciding what is stale)."""
        for f in fills:
            o = self.open.get(f.client_order_id)
            if o is None:
                continue
            if f.quantity >= o["quantity"] - o["filled_quantity"] - 1e-9:
                self.open.pop(f.client_order_id)
            else:
                o["filled_quantity"] = o["filled_quantity"] + f.quantity
                o["status"] = "partially_filled"
        for u in updates:
            self.open.pop(u.client_order_id, None)

    def stale(self, strategy: LiveStrategy, index: dict[str, int]) -> list[str]:
        """Open orders the strategy no longer wants: legs of a position that is gone or being exited, entries
        it stopped waiting for (halt, end of session). A partly filled entry whose position the strategy holds
        and is not exiting keeps filling."""
        out = []
        for cid, o in self.open.items():
            i = index[o["symbol"]]
            side, _ = strategy.position(i)
            pend = strategy.pending(i)
            leg_gone = o["reason"] in LEGS and is_leg_id(o["client_order_id"]) and (side == 0 or pend == 2)
            filling = o["filled_quantity"] > 0 and side == (1 if o["side"] == "buy" else -1) and pend != 2
            if leg_gone or (o["reason"] == "entry" and pend not in (1, -1) and not filling):
                out.append(cid)
        return out

    async def legs_of(self, fills: Sequence[FillReport]) -> list[dict[str, Any]]:
        """The protective orders the executor opened for the entries among ``fills``."""
        details = getattr(self.executor, "order_details", None)
        if details is None:
            return []

        out = []
        for f in fills:
            if f.client_order_id.startswith("tm-entry-"):
                for cid in leg_ids(f.client_order_id).values():
                    d = await details(cid)
                    if d is not None and all(g["cid"] != cid for g in out):
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
            if leg.get("status", "submitted") in TERMINAL:
                continue
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
        strategy: LiveStrategy,
        last: pd.Timestamp | None,
        after: Callable[[], list[EventRow]],
    ) -> None:
        """Cancel ``cancels`` then submit ``orders`` (their decision is committed). A fill that comes back at
        once (market-on-close) and a refusal go to the strategy, committed with its snapshot and ``after()``'s
        events (the portfolio after them). The executor's answers to the cancels are stored with the submits'
        (after them, as a submit's is: a kill in between leaves an order the restart resolves at the executor)."""
        ups: list[OrderUpdate] = []
        for cid in cancels:
            o = self.open.pop(cid)
            if o["status"] == "new":  # never sent: canceled here, before anything else is sent
                self.publish(self.store.set_status([OrderUpdate(cid, "canceled", message="not sent: stale")]))
                continue
            ups.append(await self.executor.cancel(cid))
            self.crash("after_cancel")
        bar = None if last is None else last.to_pydatetime()
        stamp = max(strategy.stamp - 1, 0)
        refused: list[Report] = []
        for o in orders:
            u = await self.executor.submit(o)
            self.crash("after_submit")
            if u.status not in ("filled", "partially_filled"):
                if u.status in TERMINAL:
                    self.open.pop(o.client_order_id, None)
                    refused += self.reports([], [u], strategy, stamp)
                elif o.client_order_id in self.open:
                    self.open[o.client_order_id]["status"] = u.status
                ups.append(u)
                continue
            fills = self.unrecorded(
                [
                    f
                    for f in await self.executor.fills_since(pd.Timestamp(o.bar_time) - _US)
                    if f.client_order_id == o.client_order_id
                ]
            )
            self.crash("before_fill_record")
            self.hand_over(strategy, self.reports(fills, [], strategy, stamp), fills, bar, after=after, updates=[u])
            if u.status == "filled":
                self.open.pop(o.client_order_id, None)
        if refused:
            self.hand_over(strategy, refused, [], bar, after=after, updates=ups)
        elif ups:
            self.publish(self.store.set_status(ups))


def _reason(purpose: str, message: str | None) -> str:
    """The strategy's rejection reason for an executor's refusal (the broker's words stay on the order)."""
    if purpose != "entry":
        return "no_position"
    m = (message or "").lower()
    if "whole share" in m or "qty" in m or "quantity" in m or "fractional" in m:
        return "size_below_one_share"
    return "insufficient_cash"
