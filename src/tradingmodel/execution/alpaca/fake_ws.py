"""The fake Alpaca's trade_updates WebSocket (``websockets.asyncio.server`` in its own thread, 127.0.0.1).

Protocol as ``alpaca-wire.md`` section 7: ``authenticate`` answered by an ``authorization`` message,
``listen`` by ``listening``, then ``{"stream": "trade_updates", "data": ...}`` as **binary** JSON frames.
No replay of events missed while disconnected (Alpaca has none), one connection per key (a second one is
refused at the handshake with HTTP 429).

Fault switches (any thread): ``drop_on_next_fill`` (the TCP connection is cut instead of sending the next
fill: that event is lost), ``silent`` (connected, answers pings, sends nothing: events are lost),
``replay_fills_on_reconnect`` (every fill sent so far is sent again after each new authorization),
:meth:`reject_handshakes` (HTTP 429 on the next n upgrades), :meth:`drop` (cut every connection now).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response


class FakeTradeStream:
    """Serves ``ws://127.0.0.1:PORT/stream``; :meth:`publish` is the book's event sink."""

    def __init__(self, key_id: str, secret_key: str) -> None:
        self.key_id, self.secret_key = key_id, secret_key
        self.port = 0
        self.conns: set[ServerConnection] = set()
        self.queues: dict[ServerConnection, asyncio.Queue[bytes]] = {}
        self.fills_sent: list[bytes] = []
        self.stats = {
            "connections": 0,
            "authorized": 0,
            "refused_429": 0,
            "dropped": 0,
            "lost_events": 0,
            "replayed": 0,
            "sent": 0,
        }
        self.drop_on_next_fill = False
        self.silent = False
        self.replay_fills_on_reconnect = False
        self.one_connection = True
        self._reject = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fake-alpaca-stream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake trade stream did not start")

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _shutdown(self) -> None:
        self._server.close()
        for ws in list(self.conns):
            ws.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def boot() -> None:
            self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._upgrade, ping_interval=None)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        loop.run_until_complete(boot())
        loop.run_forever()
        loop.close()

    # ----------------------------------------------------------------- switches (any thread)
    def reject_handshakes(self, count: int) -> None:
        """Answer the next ``count`` WebSocket upgrades with HTTP 429 (as Alpaca does to a second connection)."""
        self._reject = count

    def drop(self) -> None:
        """Cut every connection at once: no close frame (a network failure)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_all)

    def _abort_all(self) -> None:
        for ws in list(self.conns):
            self.stats["dropped"] += 1
            ws.transport.abort()

    def publish(self, data: dict[str, Any]) -> None:
        """Send one trade_updates event to every authorized connection (called by the book)."""
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._fanout, frame, data.get("event") in ("fill", "partial_fill"))

    def _fanout(self, frame: bytes, is_fill: bool) -> None:
        if is_fill:
            self.fills_sent.append(frame)
            if self.drop_on_next_fill:
                self.drop_on_next_fill = False
                self.stats["lost_events"] += 1
                self._abort_all()
                return
        if self.silent or not self.queues:
            self.stats["lost_events"] += 1
            return
        for q in self.queues.values():
            q.put_nowait(frame)

    # ----------------------------------------------------------------- protocol
    def _upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/stream":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if self._reject > 0 or (self.one_connection and self.conns):
            self._reject = max(self._reject - 1, 0)
            self.stats["refused_429"] += 1
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "connection limit exceeded\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.conns.add(ws)
        self.stats["connections"] += 1
        sender: asyncio.Task[None] | None = None
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            data = msg.get("data") or {}
            if msg.get("action") != "authenticate" or (data.get("key_id"), data.get("secret_key")) != (
                self.key_id,
                self.secret_key,
            ):
                await ws.send(
                    json.dumps(
                        {
                            "stream": "authorization",
                            "data": {
                                "action": "authenticate",
                                "status": "unauthorized",
                                "message": "access key verification failed",
                            },
                        }
                    ).encode()
                )
                return
            await ws.send(
                json.dumps(
                    {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
                ).encode()
            )
            self.stats["authorized"] += 1
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("action") == "listen":
                    streams = [s for s in (msg.get("data") or {}).get("streams", []) if s == "trade_updates"]
                    await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
                    if streams and ws not in self.queues:
                        q: asyncio.Queue[bytes] = asyncio.Queue()
                        if self.replay_fills_on_reconnect and self.stats["authorized"] > 1:
                            for frame in self.fills_sent:
                                q.put_nowait(frame)
                                self.stats["replayed"] += 1
                        self.queues[ws] = q
                        sender = asyncio.create_task(self._send_loop(ws, q))
        except Exception:  # noqa: BLE001 - a client that goes away mid-handshake is normal
            pass
        finally:
            self.conns.discard(ws)
            self.queues.pop(ws, None)
            if sender is not None:
                sender.cancel()

    async def _send_loop(self, ws: ServerConnection, q: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await q.get()
                await ws.send(frame)
                self.stats["sent"] += 1
