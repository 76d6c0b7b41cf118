"""Real-time Polygon aggregates (``AM.*`` minute, ``A.*`` second) as an async iterator of bars.

Guarantees to the consumer: each bar is delivered **exactly once** and, per symbol, **in time order**,
across disconnects. After every reconnect (and at start when ``since`` is given) the bars missed while
disconnected are back-filled through REST (official ``massive`` client), then the live feed resumes;
bars already delivered are dropped by start time. Auth failure and eviction by a second connection
(``max_connections``) raise at once; other disconnects are retried with exponential backoff up to a
bounded number of consecutive failures.

The connection uses the ``websockets`` library directly, not ``massive.WebSocketClient``: the official
client reconnects internally with no hook to back-fill, retries failed handshakes forever, reconnects
with no backoff, and treats eviction as a reason to reconnect (two clients then evict each other).
Memory stays bounded for slow consumers: frames are read only when the consumer asks for more, so at
most ``max_queue`` frames wait in the socket layer and the server's backpressure (or its
``slow_consumer`` drop, followed by a back-fill) does the rest.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tradingmodel.data.polygon.client import (
    FetchPolicy,
    PolygonREST,
    PolygonUnavailableError,
    RepeatedNextUrlError,
)
from tradingmodel.data.polygon.wire import TIMESPAN_MS, WS_EVENT, ms_to_timestamp, timeframe_name


class StreamError(Exception):
    """The stream stopped for good; the message says why and what to do."""


class StreamAuthError(StreamError):
    """The WebSocket server rejected the API key."""


class StreamEvictedError(StreamError):
    """Another connection with the same key took over (Polygon's ``max_connections``)."""


@dataclass(frozen=True, slots=True)
class StreamBar:
    """One aggregate bar with its exchange window and the local time it was received."""

    symbol: str
    timeframe: str  # "1m" (AM) or "1s" (A)
    start_ms: int  # exchange window start, Unix ms UTC (Polygon ``s``/``t``)
    end_ms: int  # exchange window end, Unix ms UTC
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    received_at: datetime  # local UTC receive time
    source: str  # "ws" (live) or "rest" (back-fill)

    @property
    def timestamp(self) -> pd.Timestamp:
        """Bar start as a UTC pandas Timestamp (the project's bar convention)."""
        return ms_to_timestamp(self.start_ms)

    def as_row(self) -> dict[str, Any]:
        """A bars-DataFrame row (``symbol, timestamp, open, ..., vwap``) plus ``received_at``."""
        return {"symbol": self.symbol, "timestamp": self.timestamp, "open": self.open, "high": self.high,
                "low": self.low, "close": self.close, "volume": self.volume,
                "vwap": self.vwap if self.vwap is not None else float("nan"),
                "received_at": pd.Timestamp(self.received_at)}


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    live: int = 0
    backfilled: int = 0
    duplicates: int = 0
    # (symbol, from ms, to ms) left open after the gap check; the newest 1,000
    gaps: deque[tuple[str, int, int]] = field(default_factory=lambda: deque(maxlen=1000))
    statuses: deque[str] = field(default_factory=lambda: deque(maxlen=200))  # newest server/reconnect notes


@dataclass
class Backoff:
    """Reconnect waits: ``initial * factor**(n-1)``, capped, with +-``jitter`` share, ``max_attempts``
    consecutive failures at most. ``sleep`` is injectable for tests."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2
    max_attempts: int = 10
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int) -> float:
        d = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return max(0.0, d * (1 + self.jitter * (2 * random.random() - 1)))


class BarStream:
    """Async iterator of :class:`StreamBar` for ``symbols`` from ``ws_url`` (back-fill from ``rest_base_url``).

    ``since`` (UTC ms, datetime or Timestamp): also deliver bars from this start time on, via REST,
    before the live ones (warm-up). Use ``async for bar in stream`` and ``await stream.aclose()``.
    """

    STABLE_AFTER = 30.0  # seconds up after which a connection counts as healthy

    def __init__(self, symbols: Sequence[str], *, api_key: str, ws_url: str, rest_base_url: str,
                 aggregates: str = "minute", since: Any = None, backoff: Backoff | None = None,
                 rest_policy: FetchPolicy | None = None, max_queue: int = 64,
                 open_timeout: float = 10.0) -> None:
        if aggregates not in WS_EVENT:
            raise ValueError(f"aggregates must be 'minute' or 'second', not {aggregates!r}")
        if not symbols:
            raise ValueError("no symbols to stream")
        if not api_key:
            raise StreamAuthError("no Polygon API key: set POLYGON_API_KEY in the environment or in .env")
        self.symbols = [s.strip() for s in symbols]
        self.api_key, self.ws_url = api_key, ws_url
        self.aggregates = aggregates
        self.event = WS_EVENT[aggregates]
        self.timeframe = timeframe_name(1, aggregates)
        self.interval_ms = TIMESPAN_MS[aggregates]
        self.backoff = backoff or Backoff()
        self.rest = PolygonREST(api_key, rest_base_url, rest_policy or FetchPolicy(max_retries=3))
        self.max_queue, self.open_timeout = max_queue, open_timeout
        self.last: dict[str, int] = {}  # start ms of the last bar delivered, per symbol
        self.since: int | None = None
        if since is not None:
            self.since = int(since) if isinstance(since, int) else int(pd.Timestamp(since).value // 10**6)
        self.first_seen: int | None = None
        self.stats = StreamStats()
        self._ws: Any = None
        self._closed = False
        self._gap_check: set[str] = set()  # symbols whose first live bar after a back-fill is checked

    @property
    def last_status(self) -> str | None:
        """The newest server status or reconnect reason, e.g. why a connection failed."""
        return self.stats.statuses[-1] if self.stats.statuses else None

    def __aiter__(self) -> AsyncIterator[StreamBar]:
        return self._run()

    async def aclose(self) -> None:
        """Stop the stream and close the connection."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    # ---- connection loop ---------------------------------------------------------------------
    async def _run(self) -> AsyncIterator[StreamBar]:
        failures = 0
        while not self._closed:
            try:
                ws = await websockets.connect(self.ws_url, open_timeout=self.open_timeout,
                                              max_queue=self.max_queue, close_timeout=1)
            except (OSError, InvalidHandshake, TimeoutError) as e:
                failures = await self._wait(failures, f"cannot connect to {self.ws_url}: {e}")
                continue
            self._ws = ws
            try:
                pending = await asyncio.wait_for(self._handshake(ws), self.open_timeout)
                self.stats.connects += 1
                if self.stats.connects > 1:
                    self.stats.reconnects += 1
                up_since = time.monotonic()
                for bar in await self._backfill():
                    yield bar
                for frame in pending:
                    for bar in await self._live(frame):
                        yield bar
                async for raw in ws:
                    # a connection that carried data or stayed up a while was no failure: reset the count
                    if failures and time.monotonic() - up_since > self.STABLE_AFTER:
                        failures = 0
                    bars = await self._live(json.loads(raw))
                    if bars:
                        failures = 0
                    for bar in bars:
                        yield bar
                if self._closed:
                    return
                reason = "server closed the connection"
            except ConnectionClosed as e:
                if self._closed:
                    return
                reason = f"connection lost ({e})"
            except (PolygonUnavailableError, RepeatedNextUrlError) as e:
                reason = f"back-fill failed ({e})"
            except TimeoutError:
                reason = f"no connected/auth/subscription reply within {self.open_timeout} s"
            except (ValueError, KeyError, TypeError) as e:  # not Polygon's JSON (or a null field): reconnect
                reason = f"malformed message from the server ({type(e).__name__}: {e})"
            finally:
                self._ws = None
                await ws.close()
            failures = await self._wait(failures, reason)

    async def _wait(self, failures: int, reason: str) -> int:
        failures += 1
        if failures > self.backoff.max_attempts:
            never = f"never connected to {self.ws_url}: " if self.stats.connects == 0 else ""
            raise StreamError(f"{never}gave up after {failures - 1} failed reconnects; last: {reason}")
        self.stats.statuses.append(f"reconnecting: {reason}")
        await self.backoff.sleep(self.backoff.delay(failures))
        return failures

    async def _handshake(self, ws: Any) -> list[list[dict[str, Any]]]:
        """connected → auth → subscribe; returns data frames that arrived before every ack."""
        self._check(json.loads(await ws.recv()))
        await ws.send(json.dumps({"action": "auth", "params": self.api_key}))
        self._check(json.loads(await ws.recv()))
        topics = {f"{self.event}.{s}" for s in self.symbols}
        await ws.send(json.dumps({"action": "subscribe", "params": ",".join(sorted(topics))}))
        pending: list[list[dict[str, Any]]] = []
        acks, n_topics = 0, len(topics)  # one "success" per topic; matched by text in Polygon's wording
        while topics and acks < n_topics:
            msgs = json.loads(await ws.recv())
            for m in msgs:
                if m.get("ev") == "status" and m.get("status") == "success":
                    acks += 1
                    topics.discard(str(m.get("message", "")).removeprefix("subscribed to: ").strip())
            self._check(msgs)
            data = [m for m in msgs if m.get("ev") != "status"]
            if data:
                pending.append(data)
        return pending

    def _check(self, msgs: list[dict[str, Any]]) -> None:
        """Raise on statuses that must stop the stream; record the others."""
        for m in msgs:
            if m.get("ev") != "status":
                continue
            status, message = m.get("status"), m.get("message", "")
            self.stats.statuses.append(f"{status}: {message}")
            if status in ("auth_failed", "auth_timeout"):
                raise StreamAuthError(
                    f"Polygon WebSocket {status}: {message}. Check POLYGON_API_KEY, and that your plan "
                    "includes WebSocket data (the free plan does not)")
            if status == "max_connections":
                raise StreamEvictedError(
                    f"evicted: {message} Another client uses the same API key on this feed (Polygon allows "
                    "one connection per key); stop it, then restart this stream")
            if status in ("error", "auth_required"):
                raise StreamError(f"Polygon WebSocket refused the subscription ({status}): {message}")

    # ---- bars -------------------------------------------------------------------------------
    def _accept(self, bar: StreamBar) -> bool:
        if bar.start_ms <= self.last.get(bar.symbol, -1):
            self.stats.duplicates += 1
            return False
        self.last[bar.symbol] = bar.start_ms
        if self.first_seen is None:
            self.first_seen = bar.start_ms
        return True

    async def _live(self, msgs: list[dict[str, Any]]) -> list[StreamBar]:
        """Bars of one WebSocket frame not delivered yet. The first live bar of a symbol after a
        back-fill is checked against it: if REST lagged and a gap remains, REST is asked once more.

        Nothing is accepted until every bar of the frame is parsed and every gap fill has succeeded:
        a failure mid-frame (REST error, malformed message) must not mark a bar of the frame as
        delivered, or the reconnect's back-fill (which starts after the last delivered bar) skips it."""
        self._check(msgs)
        now = datetime.now(UTC)
        bars = [StreamBar(m["sym"], self.timeframe, int(m["s"]), int(m.get("e", m["s"] + self.interval_ms)),
                          float(m["o"]), float(m["h"]), float(m["l"]), float(m["c"]), float(m["v"]),
                          float(m["vw"]) if m.get("vw") is not None else None, now, "ws")
                for m in msgs if m.get("ev") == self.event]
        fills: dict[str, list[StreamBar]] = {}
        for bar in bars:
            if bar.symbol in self._gap_check and bar.symbol not in fills:
                last = self.last.get(bar.symbol)
                gap = last is not None and bar.start_ms > last + self.interval_ms
                fills[bar.symbol] = await self._fill(bar.symbol, last + 1, bar.start_ms - 1) if gap else []
        out: list[StreamBar] = []
        for bar in bars:
            if bar.symbol in self._gap_check:
                self._gap_check.discard(bar.symbol)
                filled = [b for b in fills[bar.symbol] if self._accept(b)]
                self.stats.backfilled += len(filled)
                out += filled
                last = self.last.get(bar.symbol)
                if last is not None and bar.start_ms > last + self.interval_ms:
                    self.stats.gaps.append((bar.symbol, last + self.interval_ms, bar.start_ms))
            if self._accept(bar):
                out.append(bar)
                self.stats.live += 1
        return out

    async def _fill(self, sym: str, lo: int, hi: int) -> list[StreamBar]:
        aggs = await asyncio.to_thread(self._list, sym, lo, hi)
        received = datetime.now(UTC)
        return [StreamBar(sym, self.timeframe, int(a.timestamp), int(a.timestamp) + self.interval_ms,
                          float(a.open), float(a.high), float(a.low), float(a.close), float(a.volume),
                          float(a.vwap) if a.vwap is not None else None, received, "rest")
                for a in aggs if lo <= int(a.timestamp) <= hi]

    async def _backfill(self) -> list[StreamBar]:
        """Bars each symbol missed since its last delivered one (or ``since``), from REST, in time order."""
        start = self.since if self.since is not None else self.first_seen
        if start is None:
            return []
        # Only windows that have ended: REST may already serve the aggregate still being built, and a
        # partial bar delivered here would make the final live one look like a duplicate.
        now = int(time.time() * 1000)
        now_ms = now - now % self.interval_ms - 1
        got: list[StreamBar] = []
        for sym in self.symbols:
            got += await self._fill(sym, self.last[sym] + 1 if sym in self.last else start, now_ms)
        got.sort(key=lambda b: (b.start_ms, b.symbol))
        out = [b for b in got if self._accept(b)]
        self.stats.backfilled += len(out)
        self._gap_check = set(self.symbols)
        return out

    def _list(self, sym: str, lo: int, hi: int) -> list[Any]:
        from tradingmodel.data.polygon.history import explain

        self.rest.pool.seen = set()
        try:
            return list(self.rest.client.list_aggs(sym, 1, self.aggregates, lo, hi, sort="asc", limit=50_000))
        except Exception as e:
            raise explain(e, self.rest.pool.last_status, sym, f"{self.timeframe} back-fill") from None
        finally:
            self.rest.pool.seen = None
