"""``WS /api/v1/ws``: authenticate, subscribe, then every matching event after ``since`` (or from the
connection on), in id order, with heartbeats.

Protocol (JSON text frames):

* auth: the ``X-API-Key`` header on the handshake, or (browsers) a first message
  ``{"type": "auth", "key": "…"}`` within :data:`AUTH_TIMEOUT_S`; a missing or wrong key closes with 1008.
* the server greets with ``{"type": "hello", "id": <newest event id>, "data": {"channels": [...]}}``.
* ``{"type": "subscribe", "channels": [...], "symbols": [...]}`` starts the stream (again: changes the
  filter); no channels = all, no symbols = all.
* events: ``{"type", "id", "data", "symbol", "run_id", "bar_time", "time"}``; ``{"type": "heartbeat",
  "id": <last id sent>}`` after ``heartbeat_s`` without one; ``{"type": "error", "data": {"message"}}``
  for a bad message (the connection stays open).
* a client whose queue overflows, or whose socket does not take a frame within
  :data:`SEND_TIMEOUT_S`, is closed with 1013 (try again later: reconnect with ``?since=<last id>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tradingmodel.api.events import CHANNELS, EventHub, Subscriber, fetch_after
from tradingmodel.api.security import key_ok

AUTH_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 10.0
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013

router = APIRouter()


def _error(message: str) -> str:
    return json.dumps({"type": "error", "id": None, "data": {"message": message}})


def _filters(msg: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    channels, symbols = msg.get("channels") or list(CHANNELS), msg.get("symbols") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ValueError("channels must be a list of strings")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise ValueError("symbols must be a list of strings")
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; channels: {', '.join(CHANNELS)}")
    return frozenset(channels), frozenset(s.strip().upper() for s in symbols)


async def _authenticate(ws: WebSocket) -> bool:
    key = ws.headers.get("x-api-key")
    await ws.accept()
    if key is None:
        try:
            msg = json.loads(await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S))
            key = msg.get("key") if isinstance(msg, dict) and msg.get("type") == "auth" else None
        except (TimeoutError, ValueError, KeyError):
            key = None
    if not isinstance(key, str) or not key_ok(ws.app.state.api_keys, key):
        await ws.close(CLOSE_POLICY, "missing or wrong API key")
        return False
    return True


class _Stream:
    """Sends one client its replay (from the database) and then its live queue, without gaps or repeats."""

    def __init__(self, ws: WebSocket, hub: EventHub, start: int, heartbeat_s: float) -> None:
        self.ws, self.hub, self.last, self.heartbeat_s = ws, hub, start, heartbeat_s
        self.sub: Subscriber | None = None
        self.task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    async def _send(self, text: str) -> None:
        await asyncio.wait_for(self.ws.send_text(text), SEND_TIMEOUT_S)

    async def run(self, sub: Subscriber, upto: int) -> None:
        """Replay ``(start, upto]`` from the database, then the live queue; ends when the client is dropped."""
        try:
            while self.last < upto:  # replay what the hub had delivered before this client subscribed
                page = await asyncio.to_thread(fetch_after, self.hub.engine, self.last, upto)
                if not page:
                    break
                for m in page:
                    if sub.wants(m):
                        await self._send(m.text)
                    self.last = m.id
            self.last = max(self.last, upto)
            while True:
                try:
                    m = await asyncio.wait_for(sub.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await self._send(json.dumps({"type": "heartbeat", "id": self.last, "data": {}}))
                    continue
                if m is None:
                    break
                if m.id > self.last:
                    await self._send(m.text)
                    self.last = m.id
        except TimeoutError:  # the socket took no frame in time: too slow, dropped like a full queue
            self.hub.drop(sub)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client is gone
        self.hub.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.ws.close(CLOSE_TRY_LATER, "client too slow: reconnect with ?since=<last id>"), SEND_TIMEOUT_S
            )
        self.ended.set()


async def _receive(ws: WebSocket, hub: EventHub, stream: _Stream) -> None:
    """Read the client's messages: the first subscribe starts the stream, later ones change its filter."""
    while True:
        text = await ws.receive_text()
        try:
            msg = json.loads(text)
            if not isinstance(msg, dict) or msg.get("type") != "subscribe":
                raise ValueError('expected {"type": "subscribe", "channels": [...], "symbols": [...]}')
            channels, symbols = _filters(msg)
        except ValueError as e:
            await ws.send_text(_error(str(e)))
            continue
        if stream.sub is None:
            sub, upto = hub.subscribe(channels, symbols)
            stream.sub = sub
            stream.task = asyncio.create_task(stream.run(sub, upto))
        else:
            stream.sub.channels, stream.sub.symbols = channels, symbols


@router.websocket("/api/v1/ws")
async def events_ws(ws: WebSocket) -> None:
    """The event stream (see the module doc for the protocol)."""
    if not await _authenticate(ws):
        return
    hub: EventHub = ws.app.state.hub
    raw_since = ws.query_params.get("since")
    try:
        since = int(raw_since) if raw_since is not None else None
        if since is not None and since < 0:
            raise ValueError
    except ValueError:
        await ws.send_text(_error(f"since must be a non-negative event id, got {raw_since!r}"))
        await ws.close(CLOSE_POLICY, "bad since")
        return
    start = hub.frontier if since is None else since
    await ws.send_text(json.dumps({"type": "hello", "id": hub.frontier, "data": {"channels": list(CHANNELS)}}))
    stream = _Stream(ws, hub, start, ws.app.state.heartbeat_s)
    receiver = asyncio.create_task(_receive(ws, hub, stream))
    ended = asyncio.create_task(stream.ended.wait())
    try:
        # until the client goes away, or its stream ends (dropped: it cannot keep up)
        await asyncio.wait([receiver, ended], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (receiver, ended, stream.task):
            if t is not None and not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        with contextlib.suppress(Exception):
            receiver.result()
        if stream.sub is not None:
            hub.unsubscribe(stream.sub)
