"""The executor's view of the broker kept in step: the trade stream, fill deduplication, reconciliation.

* The stream (alpaca-py's ``TradingStream`` in its own thread) hands every event to the engine's loop.
  ``ready`` is set only while it is listening **and** the reconciliation after its last (re)connect has
  finished: order actions wait on it.
* A fill is applied once: its ``fill_id`` is the execution id (the stream's ``execution_id``, the same
  uuid inside a FILL activity id), and per order the cumulative filled quantity must grow, so a replayed
  event or an activity row for a fill the stream already delivered is dropped even if the ids differed.
* Reconciliation (on start, after every reconnect, and whenever an order expects an event but the stream
  has been silent past ``heartbeat_s``): missed fills from the FILL activities, order states from the open
  orders, then the broker's positions against the sum of applied fills. A difference that a second pull
  of activities does not explain stops the executor (:class:`ExecutorError` naming symbol and quantities).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from tradingmodel.execution.alpaca.client import ObservedStream, Refused, Rest, Unavailable
from tradingmodel.execution.alpaca.wire import activity_fill, fnum, status_of, stream_fill
from tradingmodel.execution.base import ExecutorError
from tradingmodel.execution.orders import TERMINAL, FillReport

log = logging.getLogger(__name__)
EPS = 1e-9


class BrokerSync:
    """Stream, dedupe and reconciliation state shared by :class:`~.executor.AlpacaExecutor`."""

    rest: Rest

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        stream_url: str,
        paper: bool,
        heartbeat_s: float,
        backoff: tuple[float, float] | None,
        since: datetime | None,
    ) -> None:
        self._stream_args = (key_id, secret_key, stream_url, paper, heartbeat_s, backoff)
        self.heartbeat_s = heartbeat_s
        self.orders: dict[str, dict[str, Any]] = {}  # client id (legs renamed) -> last broker Order dict
        self.cid_of: dict[str, str] = {}  # broker order id -> our client id
        self.pending: set[str] = set()  # client ids whose fills we expect on the stream
        self.seen: set[str] = set()
        self.cum: dict[str, float] = {}  # broker order id -> cumulative quantity applied
        self.book: dict[str, float] = {}  # broker positions at start + every fill applied since
        self.queue: asyncio.Queue[FillReport] = asyncio.Queue()
        self.slice_fills: list[FillReport] = []  # since the last on_bars (a replay slice's fills)
        self.slice_fill_count = 0
        self.since = since
        self.last_fill: datetime | None = None
        self.fatal: ExecutorError | None = None
        self.reconnects = 0
        self.restarts = 0
        self._up = False
        self._was_up = False
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()
        self._rlock = asyncio.Lock()
        self._last_msg = time.monotonic()
        self._last_check = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: ObservedStream | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- stream thread
    def start_stream(self) -> None:
        self._loop = asyncio.get_running_loop()
        key, secret, url, paper, hb, backoff = self._stream_args
        self._stream = ObservedStream(
            key,
            secret,
            url,
            paper=paper,
            on_state=self._state_cb,
            on_message=self._msg_cb,
            ping_interval=max(hb / 3, 0.5),
            ping_timeout=hb,
            backoff=backoff,
        )
        self._stream.subscribe_trade_updates(self._handler)
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-trade-stream", daemon=True)
        self._thread.start()

    async def stop_stream(self) -> None:
        stream, thread = self._stream, self._thread
        self._stream = self._thread = None
        if stream is not None:
            for _ in range(50):  # run() may not have started its loop yet
                if stream._loop is not None:
                    break
                await asyncio.sleep(0.02)
            await asyncio.to_thread(stream.shutdown)
        if thread is not None:
            await asyncio.to_thread(thread.join, 10)

    async def restart_stream(self, why: str) -> None:
        log.warning("restarting the trade stream: %s", why)
        self.restarts += 1
        self.ready.clear()
        await self.stop_stream()
        self._on_state(False)
        self.start_stream()

    async def _handler(self, msg: dict[str, Any]) -> None:  # on the stream's thread
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.on_event, msg.get("data") or {})

    def _state_cb(self, up: bool) -> None:  # stream thread
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_state, up)

    def _msg_cb(self) -> None:  # stream thread; a float store is atomic
        self._last_msg = time.monotonic()

    def _on_state(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        if not up:
            self.ready.clear()
            if self._stream is not None:  # not our own close or restart
                log.warning("trade stream down: order actions wait for it")
            return
        if self._was_up:
            self.reconnects += 1
        self._was_up = True
        self._spawn(self._reconcile_then_ready())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile_then_ready(self) -> None:
        while self._up and self.fatal is None:
            try:
                await self.reconcile()
                if self._up:
                    self.ready.set()
                return
            except Unavailable as e:
                log.warning("reconciliation after reconnect failed (%s); retrying", e)
                await asyncio.sleep(0.5)
            except ExecutorError:
                return

    async def wait_ready(self, timeout: float, what: str) -> None:
        """Wait until the stream is listening and reconciled; raise after ``timeout`` (names ``what``)."""
        self.raise_fatal()
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            raise ExecutorError(f"{what}: the Alpaca trade stream has been down for {timeout:g}s; not sent") from None
        self.raise_fatal()

    def raise_fatal(self) -> None:
        if self.fatal is not None:
            raise self.fatal

    # ----------------------------------------------------------------- events and fills
    def merge(self, cid: str, order: dict[str, Any], replaces: bool = False) -> None:
        """Keep the newest state of an order; a late or replayed event never moves it backwards.

        ``replaces``: ``order`` is a new broker order this executor placed under the name ``cid`` (an OCO's
        leg after its bracket's parent was canceled): the order held under that name is retired to
        ``<cid>-prev`` even while its own cancel event is still on the way, so that the late event updates
        the retired order and never the live one."""
        old = self.orders.get(cid)
        if old is not None and old["id"] != order["id"]:  # a new broker order under a name (an OCO after a bracket)
            retired = self.cid_of.get(str(order["id"])) not in (None, cid)
            if retired or (status_of(old) not in TERMINAL and not replaces):
                return  # a late event of the retired order, or a second live order: keep the live one
            self.cid_of[str(old["id"])] = f"{cid}-prev"
            self.orders[f"{cid}-prev"] = old
            old = None
        self.cid_of[str(order["id"])] = cid
        if old is not None and (
            status_of(old) in TERMINAL
            and status_of(order) not in TERMINAL
            or fnum(order.get("filled_qty")) < fnum(old.get("filled_qty"))
        ):
            return
        self.orders[cid] = order
        if status_of(order) in TERMINAL:
            self.pending.discard(cid)
        self.changed.set()

    def on_event(self, data: dict[str, Any]) -> None:
        order = data.get("order")
        if not order:
            return
        cid = self.cid_of.get(str(order["id"]), str(order["client_order_id"]))
        if data.get("event") in ("fill", "partial_fill"):
            self.deliver(stream_fill(data, cid), str(order["id"]), fnum(order.get("filled_qty")))
        self.merge(cid, order)
        self.after_event(cid, order)

    def after_event(self, cid: str, order: dict[str, Any]) -> None:
        """Hook for the executor (protect what a canceled entry left)."""

    def deliver(self, fill: FillReport, broker_id: str, cum: float, *, apply: bool = True) -> bool:
        """Apply a fill once: new execution id and growing cumulative quantity; queue it for the engine."""
        if fill.fill_id in self.seen or cum <= self.cum.get(broker_id, 0.0) + EPS:
            return False
        self.seen.add(fill.fill_id)
        self.cum[broker_id] = cum
        if apply:
            signed = fill.quantity if fill.side == "buy" else -fill.quantity
            self.book[fill.symbol] = self.book.get(fill.symbol, 0.0) + signed
            if abs(self.book[fill.symbol]) < EPS:
                del self.book[fill.symbol]
        self.last_fill = max(self.last_fill or fill.timestamp, fill.timestamp)
        self.queue.put_nowait(fill)
        self.slice_fills.append(fill)
        self.slice_fill_count += 1
        self.changed.set()
        return True

    # ----------------------------------------------------------------- REST side
    async def activities(self, since: datetime | None) -> list[dict[str, Any]]:
        """Every FILL activity after ``since``, oldest first (paged by ``page_token``)."""
        rows: list[dict[str, Any]] = []
        token = None
        for _ in range(1000):
            params: dict[str, Any] = {"direction": "asc", "page_size": 100}
            if since is not None:
                params["after"] = since.isoformat()
            if token:
                params["page_token"] = token
            page = await self.rest.get("/account/activities/FILL", params)
            rows.extend(page)
            if len(page) < 100:
                break
            token = page[-1]["id"]
        return rows

    async def cid_for(self, broker_id: str) -> str:
        if broker_id not in self.cid_of:
            order = await self.rest.call(self.rest.client.get_order_by_id, broker_id)
            self.cid_of[broker_id] = str(order["client_order_id"])
        return self.cid_of[broker_id]

    async def apply_activities(self, rows: list[dict[str, Any]], *, apply: bool = True) -> int:
        n = 0
        for r in rows:
            fill = activity_fill(r, await self.cid_for(str(r["order_id"])))
            n += self.deliver(fill, str(r["order_id"]), fnum(r.get("cum_qty")), apply=apply)
        return n

    def _window(self) -> datetime | None:
        return self.last_fill - timedelta(seconds=5) if self.last_fill is not None else self.since

    async def reconcile(self) -> int:
        """Missed fills, order states, then positions; returns the number of fills the stream had missed."""
        async with self._rlock:
            missed = await self.apply_activities(await self.activities(self._window()))
            for order in await self.rest.call(self.rest.client.get_orders):  # open orders (flat list)
                self.merge(self.cid_of.get(str(order["id"]), str(order["client_order_id"])), order)
            for cid in [c for c, o in self.orders.items() if status_of(o) not in TERMINAL]:
                fresh = await self.rest.call(self.rest.client.get_order_by_id, str(self.orders[cid]["id"]))
                self.merge(cid, fresh)
                self.after_event(cid, fresh)
            await self.check_positions()
            if missed:
                log.warning("reconciliation found %d fill(s) the trade stream had not delivered", missed)
            return missed

    async def broker_positions(self) -> dict[str, float]:
        return {str(p["symbol"]): fnum(p["qty"]) for p in await self.rest.call(self.rest.client.get_all_positions)}

    async def check_positions(self) -> None:
        """The broker's positions must equal the applied fills; one more pull of activities may explain a
        fill in flight, anything else stops the executor."""
        for attempt in range(3):
            broker = await self.broker_positions()
            diff = sorted(
                s for s in set(broker) | set(self.book) if abs(broker.get(s, 0.0) - self.book.get(s, 0.0)) > EPS
            )
            if not diff:
                return
            if attempt < 2:
                await asyncio.sleep(0.2)
                await self.apply_activities(await self.activities(self._window()))
        s = diff[0]
        self.fatal = ExecutorError(
            f"position mismatch in {s}: the broker holds {broker.get(s, 0.0):g} shares, the fills this executor "
            f"applied add up to {self.book.get(s, 0.0):g}; reconciliation cannot explain it, stopping"
        )
        raise self.fatal

    async def watch(self) -> None:
        """Heartbeat: an order expects events but the stream said nothing for ``heartbeat_s``: reconcile;
        if REST shows what the stream did not deliver, the stream is silent-but-connected: restart it."""
        while True:
            await asyncio.sleep(self.heartbeat_s / 4)
            now = time.monotonic()
            if self.fatal is not None or not self.pending or not self._up:
                continue
            if now - self._last_msg < self.heartbeat_s or now - self._last_check < self.heartbeat_s:
                continue
            self._last_check = now
            before = {c: (o.get("status"), o.get("filled_qty")) for c, o in self.orders.items()}
            try:
                missed = await self.reconcile()
            except (Unavailable, Refused) as e:
                log.warning("heartbeat reconciliation failed: %s", e)
                continue
            except ExecutorError:
                continue
            after = {c: (o.get("status"), o.get("filled_qty")) for c, o in self.orders.items()}
            quiet = time.monotonic() - self._last_msg
            if (missed or before != after) and quiet >= self.heartbeat_s:  # still nothing from the stream
                await self.restart_stream(f"silent for {quiet:.1f}s while REST showed new events")
