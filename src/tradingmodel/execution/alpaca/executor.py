"""``AlpacaExecutor``: the :class:`~tradingmodel.execution.base.Executor` for an Alpaca account.

Through the official ``alpaca-py`` client (``TradingClient`` for REST, ``TradingStream`` for fills), with
the guards ``alpaca-wire.md`` section 9 asks for:

* **Placed once.** Every order carries the engine's deterministic ``client_order_id``. The client's own
  re-POST on 504 is off; a timeout, connection error or 5xx is resolved by looking the id up (found: that
  is the order; not found: the same id is sent again, which Alpaca can only place once). A 422 "client_order_id
  must be unique" is "already placed": the order is fetched by its client id.
* **Refusals are recorded, not retried.** 403 (buying power, shares, shorting) and 422 (quantity, symbol)
  come back as a ``rejected`` :class:`OrderUpdate` carrying the broker's message; a second submit of that
  id answers the same without a request.
* **Protective exits at the broker.** An entry with ``stop_loss`` and ``take_profit`` goes as a bracket;
  the legs are renamed ``<entry id>-sl`` / ``<entry id>-tp``. If the entry ends canceled with a partial
  position, an OCO (``<entry id>-oco``) protects what was filled. An engine exit (time, halt, session
  close) first cancels the legs and never sells more than the broker's position.
* **Fractional quantities** (``APCA_ALLOW_FRACTIONAL``): Alpaca takes fractional orders only as simple market
  orders, so no entry carries legs and ``holds_protective_orders`` is False: the engine emulates the stop and
  target (decided on a bar's close, sent as market exits for the next open; nothing fires while the engine is
  down) and says so at start. Long quantities may be fractional (on a fractionable asset); Alpaca sells no
  fractions short, so a short entry is floored to whole shares (refused below one). An exit, emulated stop or
  target included, is a market order never larger than the broker's position.
* **Stream, dedupe, reconciliation, heartbeat, positions as the truth**: :mod:`.sync`.
* **Before trading** (:meth:`start`): keys valid, account ``ACTIVE`` and not blocked, market open; per
  symbol (first order): tradable, and shortable for a short entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import requests
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from tradingmodel.execution.alpaca.checks import PreTrade, check_account, order_quantity
from tradingmodel.execution.alpaca.client import Refused, Rest, Unavailable
from tradingmodel.execution.alpaca.settings import AlpacaConfig, stream_url_for
from tradingmodel.execution.alpaca.sync import EPS, BrokerSync
from tradingmodel.execution.alpaca.wire import (
    activity_fill,
    fnum,
    leg_id,
    oco_request,
    order_request,
    status_of,
    to_update,
)
from tradingmodel.execution.base import AccountState, ExecutorError
from tradingmodel.execution.orders import TERMINAL, FillReport, OrderRequest, OrderUpdate

log = logging.getLogger(__name__)


class AlpacaExecutor(PreTrade, BrokerSync):
    """Alpaca as an :class:`~tradingmodel.execution.base.Executor` (see the module docstring)."""

    name = "alpaca"
    holds_protective_orders = True

    def __init__(self, cfg: AlpacaConfig) -> None:
        super().__init__(
            key_id=cfg.key_id,
            secret_key=cfg.secret_key,
            stream_url=cfg.stream_url or stream_url_for(cfg.base_url),
            paper=not cfg.live,
            heartbeat_s=cfg.heartbeat_s,
            backoff=cfg.backoff,
            since=cfg.since,
        )
        self.cfg = cfg
        self.rest = Rest(
            cfg.key_id,
            cfg.secret_key,
            cfg.base_url,
            paper=not cfg.live,
            timeout=cfg.call_timeout_s,
            wait_429=cfg.wait_429_s,
        )
        # fractional orders must be simple market orders at Alpaca: no legs, the engine emulates the exits
        self.holds_protective_orders = not cfg.allow_fractional
        self.fractional = cfg.allow_fractional
        self.rejected: dict[str, OrderUpdate] = {}
        self.exits: dict[str, tuple[float, float]] = {}  # entry id -> (stop, target) to protect a partial
        self.assets: dict[str, dict[str, Any]] = {}
        self.shorting = True
        self.requests: dict[str, OrderRequest] = {}
        self._slice_orders: list[str] = []
        self._watchdog: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        try:
            acct = await self.rest.call(self.rest.client.get_account)
            clock = await self.rest.call(self.rest.client.get_clock)
        except Refused as e:
            raise ExecutorError(
                f"Alpaca refused the keys at {self.cfg.base_url} ({e}); check APCA_API_KEY_ID and APCA_API_SECRET_KEY"
            ) from None
        except Unavailable as e:
            raise ExecutorError(f"Alpaca at {self.cfg.base_url} did not answer: {e}") from None
        check_account(acct, clock, require_open=self.cfg.require_open)
        self.shorting = bool(acct.get("shorting_enabled", True))
        await self._initial_sync()
        self.start_stream()
        await self.wait_ready(self.cfg.stream_wait_s, "start")
        self._watchdog = asyncio.get_running_loop().create_task(self.watch())

    async def _initial_sync(self) -> None:
        """Positions are the starting truth; fills already made are marked seen (and queued for the engine's
        own dedupe) without being added again; today's orders are read with their legs."""
        for _ in range(5):
            before = await self.activities(self.since)
            positions = await self.broker_positions()
            after = await self.activities(self.since)
            if len(after) == len(before):
                break
        else:
            raise ExecutorError("fills kept arriving while reading the account at start; try again")
        self.book = dict(positions)
        for order in await self.rest.call(self.rest.client.get_orders, _all_orders(self.since)):
            self._remember(order, str(order["client_order_id"]))
        await self.apply_activities(after, apply=False)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        await self.stop_stream()

    # ----------------------------------------------------------------- orders
    async def submit(self, order: OrderRequest) -> OrderUpdate:
        cid = order.client_order_id
        self.raise_fatal()
        if cid in self.rejected:
            return self.rejected[cid]
        if cid in self.orders:
            return to_update(self.orders[cid], cid)
        parent = order.parent_client_order_id
        if order.purpose in ("stop_loss", "take_profit") and parent and self.holds_protective_orders:
            held = self.orders.get(f"{parent}-{'sl' if order.purpose == 'stop_loss' else 'tp'}")
            if held is not None:  # the broker already holds this exit as a leg
                return to_update(held, cid)
        problem = await self._pretrade(order)
        qty = order.quantity
        if problem is None:
            qty, problem = order_quantity(order, self.cfg.allow_fractional, self.assets[order.symbol.upper()])
        if problem is None and order.purpose != "entry":
            qty, problem = await self._exit_quantity(order, qty)
        if problem is not None:
            return self._reject(cid, problem)
        bracket = (
            order.purpose == "entry"
            and order.stop_loss is not None
            and order.take_profit is not None
            and self.holds_protective_orders
            and order.order_type in ("market", "limit")
        )
        if bracket:
            self.exits[cid] = (float(order.stop_loss), float(order.take_profit))  # type: ignore[arg-type]
        await self.wait_ready(self.cfg.stream_wait_s, f"order {cid}")
        try:
            placed = await self._place(cid, order_request(order, qty, bracket=bracket))
        except Refused as e:
            return self._reject(cid, e.message)
        self._remember(placed, cid)
        self.requests[cid] = order
        self._slice_orders.append(cid)
        if order.order_type in ("market", "market_on_close") and status_of(placed) not in TERMINAL:
            self.pending.add(cid)
        return to_update(self.orders.get(cid, placed), cid)

    async def _place(self, cid: str, request: Any) -> dict[str, Any]:
        """POST once; an unknown outcome is looked up by client id before the same id is sent again."""
        last: Exception | None = None
        for _ in range(self.cfg.submit_attempts):
            try:
                return await self.rest.call(self.rest.client.submit_order, request, idempotent=False)
            except Refused as e:
                if not e.duplicate:
                    raise
                found = await self._lookup(cid)
                if found is None:
                    raise ExecutorError(f"order {cid}: Alpaca says the id is taken but cannot find it") from None
                return found
            except Unavailable as e:
                last = e
                log.warning("order %s: no answer (%s); looking it up before anything else", cid, e)
                found = await self._lookup(cid)
                if found is not None:
                    return found
        raise ExecutorError(f"order {cid}: Alpaca did not answer after {self.cfg.submit_attempts} attempts: {last}")

    async def _lookup(self, cid: str) -> dict[str, Any] | None:
        for attempt in range(self.cfg.submit_attempts):
            try:
                return await self.rest.call(self.rest.client.get_order_by_client_id, cid)
            except Refused as e:
                if e.not_found:
                    return None
                raise ExecutorError(f"order {cid}: lookup refused: {e}") from None
            except Unavailable:
                await asyncio.sleep(0.2 * (attempt + 1))
        raise ExecutorError(f"order {cid}: Alpaca did not answer the lookup; its state is unknown, stopping")

    def _reject(self, cid: str, message: str) -> OrderUpdate:
        log.warning("order %s rejected: %s", cid, message)
        self.rejected[cid] = OrderUpdate(cid, "rejected", message=message)
        return self.rejected[cid]

    def _remember(self, order: dict[str, Any], cid: str) -> None:
        self.merge(cid, order)
        for leg in order.get("legs") or []:
            self.merge(leg_id(cid, leg), leg)

    async def _exit_quantity(self, order: OrderRequest, qty: float) -> tuple[float, str | None]:
        """Cancel resting legs that hold the shares, then never close more than the broker's position."""
        legs = [
            c
            for c, o in self.orders.items()
            if o.get("symbol") == order.symbol.upper()
            and (c.endswith("-sl") or c.endswith("-tp"))
            and status_of(o) not in TERMINAL
        ]
        if legs:
            await self.cancel(legs[0])  # one member cancels its whole group
            await self.wait_settled(legs, self.cfg.call_timeout_s)
        held = (await self.broker_positions()).get(order.symbol.upper(), 0.0)
        closing = held < 0 if order.side == "buy" else held > 0
        if not closing:
            return 0.0, f"no {order.symbol} position to close at the broker (holds {held:g}); not reversing"
        return min(qty, abs(held)), None

    def after_event(self, cid: str, order: dict[str, Any]) -> None:
        stop_target = self.exits.get(cid)
        if stop_target and order.get("status") in ("canceled", "expired") and fnum(order.get("filled_qty")) > 0:
            self.exits.pop(cid)
            self._spawn(self._protect(cid, order, *stop_target))

    async def _protect(self, cid: str, entry: dict[str, Any], stop: float, target: float) -> None:
        """An entry canceled after a partial fill: an OCO exit for the filled shares (legs went with it)."""
        side = "sell" if entry["side"] == "buy" else "buy"
        oco_id = f"{cid}-oco"
        try:
            placed = await self._place(
                oco_id, oco_request(oco_id, str(entry["symbol"]), side, fnum(entry["filled_qty"]), target, stop)
            )
        except (Refused, ExecutorError) as e:
            log.error("entry %s left %s shares unprotected: %s", cid, entry["filled_qty"], e)
            return
        # the bracket's legs went with their canceled parent, whether or not their cancel events are here yet
        self.merge(f"{cid}-tp", placed, replaces=True)
        for leg in placed.get("legs") or []:
            self.merge(f"{cid}-sl", leg, replaces=True)

    async def cancel(self, client_order_id: str) -> OrderUpdate:
        await self.wait_ready(self.cfg.stream_wait_s, f"cancel {client_order_id}")
        known = self.orders.get(client_order_id) or await self._lookup(client_order_id)
        if known is None:
            raise ExecutorError(f"cancel {client_order_id}: Alpaca has no such order")
        try:
            await self.rest.call(self.rest.client.cancel_order_by_id, str(known["id"]))
        except Refused as e:
            if e.status != 422:  # 422: already filled/canceled, the fresh state below says which
                raise ExecutorError(f"cancel {client_order_id}: {e}") from None
        fresh = await self.rest.call(self.rest.client.get_order_by_id, str(known["id"]))
        self.merge(client_order_id, fresh)
        return to_update(self.orders[client_order_id], client_order_id)

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        if client_order_id in self.rejected:
            return self.rejected[client_order_id]
        if client_order_id in self.orders and (client_order_id.endswith(("-sl", "-tp"))):
            fresh = await self.rest.call(self.rest.client.get_order_by_id, str(self.orders[client_order_id]["id"]))
            self.merge(client_order_id, fresh)
            return to_update(self.orders[client_order_id], client_order_id)
        found = await self._lookup(client_order_id)
        if found is None:
            return None
        self._remember(found, client_order_id)
        return to_update(found, client_order_id)

    def cached_order(self, client_order_id: str) -> OrderUpdate | None:
        """The order's state as the stream and the last reconciliation left it (no request): the engine's
        per-slice status poll. None when this executor has not seen it."""
        if client_order_id in self.rejected:
            return self.rejected[client_order_id]
        o = self.orders.get(client_order_id)
        return None if o is None else to_update(o, client_order_id)

    async def open_orders(self) -> list[OrderUpdate]:
        rows = await self.rest.call(self.rest.client.get_orders)
        return [to_update(o, self.cid_of.get(str(o["id"]))) for o in rows]

    async def positions(self) -> dict[str, float]:
        return await self.broker_positions()

    async def verify_positions(self, ours: dict[str, float]) -> None:
        """The engine's positions against the broker's: :class:`ExecutorError` naming the first mismatch."""
        broker = await self.broker_positions()
        for s in sorted(set(broker) | set(ours)):
            if abs(broker.get(s, 0.0) - ours.get(s, 0.0)) > EPS:
                raise ExecutorError(
                    f"position mismatch in {s}: the broker holds {broker.get(s, 0.0):g} shares, "
                    f"the engine {ours.get(s, 0.0):g}"
                )

    async def account(self) -> AccountState:
        a = await self.rest.call(self.rest.client.get_account)
        return AccountState(
            cash=fnum(a.get("cash")),
            equity=fnum(a.get("equity")),
            buying_power=fnum(a.get("buying_power")),
            trading_blocked=bool(a.get("trading_blocked")),
            shorting_enabled=bool(a.get("shorting_enabled")),
            fractional=self.cfg.allow_fractional,
        )

    async def fills_since(self, since: pd.Timestamp | None) -> list[FillReport]:
        rows = await self.activities(self.since if since is None else pd.Timestamp(since).to_pydatetime())
        return [activity_fill(r, await self.cid_for(str(r["order_id"]))) for r in rows]

    async def fills(self) -> AsyncIterator[FillReport]:
        while True:
            yield await self.queue.get()

    async def on_bars(self, bars: pd.DataFrame) -> Sequence[FillReport]:
        """A slice arrived. The orders sent since the previous slice are waited for (acknowledged and filled,
        rejected, or ``slice_wait_s``), so a replay at any speed sends what a real-time session sends. In a
        replay against the fake (``price_hook``), the bars' opens are first told to it as prices. Returns
        the fills that arrived since the previous slice (they are also on :meth:`fills`: dedupe by id)."""
        sent, self._slice_orders = self._slice_orders, []
        if self.cfg.price_hook is not None and len(bars):
            prices = {str(r.symbol).upper(): float(r.open) for r in bars.itertuples()}
            before = self.slice_fill_count  # the stream may deliver them before the hook answers
            made = await asyncio.to_thread(_post_prices, self.cfg.price_hook, prices, self.cfg.call_timeout_s)
            target = before + made
            loop = asyncio.get_running_loop()
            end = loop.time() + self.cfg.slice_wait_s
            while self.slice_fill_count < target and loop.time() < end:
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), min(end - loop.time(), self.heartbeat_s / 4))
                if self.slice_fill_count < target and loop.time() > end - self.cfg.slice_wait_s / 2:
                    await self.reconcile()  # the stream is late: REST has them
        elif sent:  # real time: wait for the broker; in a replay the fake filled what these prices fill
            await self.wait_settled(sent, self.cfg.slice_wait_s)
        out, self.slice_fills = self.slice_fills, []
        return out

    async def order_details(self, client_order_id: str) -> dict[str, Any] | None:
        """An order's particulars for the engine's leg bookkeeping (bracket legs under ``<entry>-sl/-tp``)."""
        o = self.orders.get(client_order_id)
        if o is None:
            return None
        parent = client_order_id.rsplit("-", 1)[0] if client_order_id.endswith(("-sl", "-tp")) else None
        req = self.requests.get(parent or client_order_id)
        purpose = (
            {"sl": "stop_loss", "tp": "take_profit"}.get(client_order_id.rsplit("-", 1)[-1])
            if parent
            else (req.purpose if req else None)
        )
        return {
            "cid": client_order_id,
            "symbol": o["symbol"],
            "side": o["side"],
            "quantity": fnum(o.get("qty")),
            "order_type": o.get("type"),
            "purpose": purpose,
            "status": status_of(o),
            "bar_time": req.bar_time if req else None,
            "limit_price": o.get("limit_price") and fnum(o["limit_price"]),
            "stop_price": o.get("stop_price") and fnum(o["stop_price"]),
            "parent_client_order_id": parent,
            "broker_order_id": o["id"],
        }

    async def wait_settled(self, client_order_ids: Iterable[str], timeout: float) -> dict[str, OrderUpdate]:
        """Wait until each order is filled or ended (or ``timeout``): a replay slice's barrier, so a replay at
        any speed sends what a real-time session would. Late orders are looked up by REST at the deadline."""
        ids = list(client_order_ids)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout

        def done(c: str) -> bool:
            return c in self.rejected or (c in self.orders and status_of(self.orders[c]) in TERMINAL)

        while not all(done(c) for c in ids) and loop.time() < end:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(end - loop.time(), self.heartbeat_s / 4))
        for c in ids:
            if not done(c) and c in self.orders:
                await self.get_order(c)
        return {
            c: self.rejected.get(c) or to_update(self.orders[c], c)
            for c in ids
            if c in self.orders or c in self.rejected
        }


def _post_prices(url: str, prices: dict[str, float], timeout: float) -> int:
    """Tell the fake a slice's prices (replay only); returns how many executions they made."""
    r = requests.post(url, json=prices, timeout=timeout)
    r.raise_for_status()
    return int(r.json()["executions"])


def _all_orders(since: datetime | None) -> GetOrdersRequest:
    return GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True, limit=500, after=since)
