"""WebSocket half of the fake Polygon server (``websockets.asyncio.server`` in its own thread).

Protocol, as in ``polygon-wire.md`` section 2: ``connected`` status on open, ``auth`` action answered by
``auth_success``/``auth_failed``, one ``success`` ack per subscribed topic, data as JSON arrays of ``AM``
(minute) or ``A`` (second) aggregates, one array per published timestamp. A new connection with the same
key beyond ``max_connections`` evicts the oldest (``max_connections`` status, close code 1008). A client
that does not read falls behind a bounded per-connection buffer and is dropped (``slow_consumer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from tradingmodel.data.polygon.wire import NEW_YORK, WS_EVENT

if TYPE_CHECKING:
    from tradingmodel.data.polygon.fake import FakePolygon

MSG_MAX_CONN = ("Maximum number of websocket connections exceeded. You have reached the connection limit "
                "for your account. Please contact support at https://polygon.io/contact to increase your limit.")


def _status(status: str, message: str) -> str:
    return json.dumps([{"ev": "status", "status": status, "message": message}])


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    key: str
    queue: asyncio.Queue[str]
    subs: set[str] = field(default_factory=set)
    sender: asyncio.Task[None] | None = None


class FakeFeed:
    """The fake's WebSocket feed. Control methods are safe to call from any thread."""

    def __init__(self, fake: FakePolygon, *, max_connections: int = 1, slow_consumer_frames: int = 256,
                 auth_timeout: float = 5.0, send_buffer: int | None = None) -> None:
        self.fake = fake
        self.send_buffer = send_buffer  # SO_SNDBUF of each connection (small = slow consumers show sooner)
        self.max_connections = max_connections
        self.slow_consumer_frames = slow_consumer_frames
        self.auth_timeout = auth_timeout
        self.event = WS_EVENT[fake.base_unit]
        self.port = 0
        self.conns: list[_Conn] = []
        self.stats = {"connections": 0, "auth_failed": 0, "evicted": 0, "dropped": 0, "slow_consumer": 0,
                      "refused": 0}
        self._drop_points: set[int] = set()
        self._outage = 0
        self._refuse_until = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._player: asyncio.Task[None] | None = None
        self._payloads = self._build_payloads()

    # ---- payloads ---------------------------------------------------------------------------
    def _build_payloads(self) -> list[list[tuple[str, dict[str, Any]]]]:
        """Per published timestamp, the ``(symbol, event)`` list, with day-running ``av``/``op``/``a``."""
        df = self.fake._df
        if df.empty:
            return []
        day = df["timestamp"].dt.tz_convert(NEW_YORK).dt.date
        grp = df.groupby([df["symbol"], day], sort=False)
        vw = df["vwap"].fillna(df["close"]) if "vwap" in df else df["close"]
        av = grp["volume"].cumsum()
        op = grp["open"].transform("first")
        a = (vw * df["volume"]).groupby([df["symbol"], day], sort=False).cumsum() / av.where(av > 0)
        n = df["transactions"] if "transactions" in df else (df["volume"] // 100).clip(lower=1)
        step = self.fake.interval_ms
        out: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in self.fake.times]
        idx = np.searchsorted(self.fake.times, df["t"].to_numpy())
        for i, r in enumerate(df.itertuples(index=False)):
            t = int(r.t)
            ev = {"ev": self.event, "sym": r.symbol, "v": int(r.volume), "av": int(av.iat[i]),
                  "op": float(op.iat[i]), "vw": round(float(vw.iat[i]), 4), "o": float(r.open),
                  "c": float(r.close), "h": float(r.high), "l": float(r.low),
                  "a": round(float(a.iat[i]), 4) if a.iat[i] == a.iat[i] else float(r.close),
                  "z": int(r.volume // max(1, n.iat[i])), "s": t, "e": t + step}
            out[idx[i]].append((r.symbol, ev))
        return out

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(self._serve())
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-polygon-ws", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake WebSocket server did not start")

    async def _serve(self) -> Any:
        return await serve(self._handler, "127.0.0.1", 0, process_request=self._process_request,
                           close_timeout=1)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    async def _shutdown(self) -> None:
        if self._player:
            self._player.cancel()
        for ws in list(self._server.connections):
            ws.transport.abort()
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def _call(self, coro: Any, timeout: float = 10) -> Any:
        assert self._loop is not None, "start() the fake first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ---- controls (any thread) --------------------------------------------------------------
    def play(self, tick: float = 0.002, until: int | None = None) -> None:
        """Publish one timestamp every ``tick`` seconds (bars "as time passes", accelerated) until
        ``published`` reaches ``until`` (default: everything)."""
        end = len(self.fake.times) if until is None else min(until, len(self.fake.times))

        async def player() -> None:
            while self.fake.published < end:
                self._publish_one()
                await asyncio.sleep(tick)

        async def go() -> None:
            self._player = asyncio.get_running_loop().create_task(player())
        self._call(go())

    def pause(self) -> None:
        async def stop() -> None:
            if self._player:
                self._player.cancel()
        self._call(stop())

    def publish(self, n: int = 1) -> None:
        """Publish the next ``n`` timestamps now."""
        async def go() -> None:
            for _ in range(n):
                self._publish_one()
        self._call(go())

    def inject(self, raw: str) -> None:
        """Send ``raw`` as one text frame to every subscribed client (e.g. a malformed message)."""
        async def go() -> None:
            for c in list(self.conns):
                if c.subs:
                    c.queue.put_nowait(raw)
        self._call(go())

    def drop_connections(self) -> None:
        """Abruptly cut every connection (no close frame), like a network failure."""
        async def go() -> None:
            self._drop_all()
        self._call(go())

    def drop_after(self, points: Iterable[int], outage: int = 0) -> None:
        """Cut all connections right after ``published`` reaches each point; refuse reconnects for
        ``outage`` further timestamps so the client misses bars it must back-fill."""
        self._drop_points = set(points)
        self._outage = outage

    def finished(self) -> bool:
        return self.fake.published >= len(self.fake.times)

    def subscribed_count(self) -> int:
        return sum(1 for c in list(self.conns) if c.subs)

    def wait_subscribed(self, n: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.subscribed_count() < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {n} subscribed WebSocket client(s) within {timeout} s")
            time.sleep(0.005)

    # ---- internals (event-loop thread) ------------------------------------------------------
    def _drop_all(self) -> None:
        for c in list(self.conns):
            self.stats["dropped"] += 1
            c.ws.transport.abort()
        self.conns.clear()

    def _publish_one(self) -> None:
        fake = self.fake
        with fake.lock:
            p = fake._published
            if p >= len(fake.times):
                return
            fake._published = p + 1
        events = self._payloads[p]
        for c in list(self.conns):
            mine = [ev for sym, ev in events if f"{self.event}.{sym}" in c.subs or f"{self.event}.*" in c.subs]
            if not mine:
                continue
            try:
                c.queue.put_nowait(json.dumps(mine))
            except asyncio.QueueFull:
                self._kick(c, "slow_consumer", "Consumer is too slow; disconnecting.")
                self.stats["slow_consumer"] += 1
        if p + 1 in self._drop_points:
            self._drop_all()
            self._refuse_until = p + 1 + self._outage

    def _kick(self, c: _Conn, status: str, message: str) -> None:
        """Send a disconnect status and close (1008); abort if the client does not read it."""
        with contextlib.suppress(ValueError):
            self.conns.remove(c)
        while not c.queue.empty():
            c.queue.get_nowait()
        c.queue.put_nowait(_status(status, message))

        async def close() -> None:
            for _ in range(50):  # let the sender write the status first
                if c.queue.empty():
                    break
                await asyncio.sleep(0.01)
            try:
                await asyncio.wait_for(c.ws.close(1008, status), 1.0)
            except (TimeoutError, Exception):
                c.ws.transport.abort()
        asyncio.get_running_loop().create_task(close())

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.fake.published < self._refuse_until:
            self.stats["refused"] += 1
            return connection.respond(503, "Service Unavailable\n")
        if request.path.split("?")[0] != "/stocks":
            return connection.respond(404, "Not Found\n")
        return None

    async def _sender(self, c: _Conn) -> None:
        with contextlib.suppress(Exception):
            while True:
                await c.ws.send(await c.queue.get())

    async def _handler(self, ws: ServerConnection) -> None:
        self.stats["connections"] += 1
        if self.send_buffer:
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                             self.send_buffer)
        await ws.send(_status("connected", "Connected Successfully"))
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), self.auth_timeout))
        except TimeoutError:
            await ws.send(_status("auth_timeout", "No authentication request received."))
            await ws.close(1008, "auth timeout")
            return
        except Exception:
            return
        if msg.get("action") != "auth" or msg.get("params") != self.fake.api_key:
            self.stats["auth_failed"] += 1
            await ws.send(_status("auth_failed", "authentication failed"))
            await ws.close(1008, "authentication failed")
            return
        c = _Conn(ws, msg["params"], asyncio.Queue(self.slow_consumer_frames))
        same = [o for o in self.conns if o.key == c.key]
        while len(same) >= self.max_connections:
            old = same.pop(0)
            self.stats["evicted"] += 1
            self._kick(old, "max_connections", MSG_MAX_CONN)
        self.conns.append(c)
        await ws.send(_status("auth_success", "authenticated"))
        c.sender = asyncio.get_running_loop().create_task(self._sender(c))
        try:
            async for raw in ws:
                req = json.loads(raw)
                topics = [t.strip() for t in str(req.get("params", "")).split(",") if t.strip()]
                action = req.get("action")
                for t in topics:
                    if action == "subscribe":
                        c.subs.add(t)
                        c.queue.put_nowait(_status("success", f"subscribed to: {t}"))
                    elif action == "unsubscribe":
                        c.subs.discard(t)
                        c.queue.put_nowait(_status("success", f"unsubscribed to: {t}"))
        except Exception:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self.conns.remove(c)
            await asyncio.sleep(0.05)  # let a queued disconnect status go out
            c.sender.cancel()
