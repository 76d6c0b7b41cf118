"""The time-slice barrier: all symbols' bars of one minute go to the strategy together.

A minute is released when every symbol has its bar, when the source says the minute is complete
(:class:`~.sources.SliceEnd`), or ``timeout`` seconds after its first bar arrived (symbols without a bar
that minute are left out of the slice, as the backtest leaves a missing bar NaN). Minutes are released in
time order. A bar for a minute already released is ``late``, a second bar for the same symbol and minute is
a ``duplicate``, a bar older than the symbol's newest is ``out_of_order``: each is noted and never applied.
A symbol whose bars skip minutes inside a session gets ``gap_bars`` on its next bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradingmodel.data.sessions import NEW_YORK
from tradingmodel.live.sources import LiveBar, SliceEnd

_CLOSED = object()  # put on the queue of :func:`slices` by :meth:`SliceBarrier.close`


@dataclass
class Slice:
    """One minute's bars (symbol -> bar), the gaps found, and the bars refused since the last slice."""

    timestamp: pd.Timestamp
    bars: dict[str, LiveBar]
    gaps: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[LiveBar, str]] = field(default_factory=list)


class SliceBarrier:
    """Collects bars into minutes (see the module docstring). Pure bookkeeping; :func:`slices` drives it."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        timeout: float = 5.0,
        after: pd.Timestamp | None = None,
        interval: pd.Timedelta = pd.Timedelta(minutes=1),
        clock=time.monotonic,
    ) -> None:
        self.symbols = set(symbols)
        self.timeout, self.interval, self.clock = timeout, interval, clock
        self.released: pd.Timestamp | None = after
        self.pending: dict[pd.Timestamp, dict[str, LiveBar]] = {}
        self.first_seen: dict[pd.Timestamp, float] = {}
        self.newest: dict[str, pd.Timestamp] = {}
        self.seen: dict[str, deque[pd.Timestamp]] = {s: deque(maxlen=512) for s in symbols}
        self.refused: list[tuple[LiveBar, str]] = []
        self.applied: dict[str, pd.Timestamp] = {}  # last released bar per symbol
        self._dates: dict[pd.Timestamp, np.datetime64] = {}
        self.closed = False
        self._wake: asyncio.Queue | None = None  # the queue :func:`slices` waits on

    def close(self) -> None:
        """Stop releasing minutes: :func:`slices` ends at once, even while it waits for a bar (a live source
        may send none for hours). Minutes still open are dropped, not released: a restarted session gets
        their bars again (replay: after the last processed bar; polygon: back-filled from it)."""
        self.closed = True
        if self._wake is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._wake.put_nowait(_CLOSED)

    def add(self, bar: LiveBar) -> str:
        """File ``bar``; returns ``"accepted"``, ``"late"``, ``"duplicate"``, ``"out_of_order"`` or ``"unknown"``."""
        s, t = bar.symbol, bar.timestamp
        if s not in self.symbols:
            status = "unknown"
        elif t in self.seen[s]:
            status = "duplicate"
        elif self.released is not None and t <= self.released:
            status = "late"
        elif s in self.newest and t < self.newest[s]:
            status = "out_of_order"
        else:
            self.pending.setdefault(t, {})[s] = bar
            self.first_seen.setdefault(t, self.clock())
            self.seen[s].append(t)
            self.newest[s] = t
            return "accepted"
        self.refused.append((bar, status))
        return status

    def deadline(self) -> float | None:
        """Clock time at which the oldest open minute times out (None: nothing open)."""
        if not self.pending:
            return None
        return self.first_seen[min(self.pending)] + self.timeout

    def release(self, upto: pd.Timestamp | None = None, *, force: bool = False) -> list[Slice]:
        """Minutes ready now: complete, at or before ``upto``, timed out, or all of them with ``force``."""
        out = []
        now = self.clock()
        while self.pending:
            t = min(self.pending)
            bars = self.pending[t]
            done = (
                force
                or len(bars) == len(self.symbols)
                or (upto is not None and t <= upto)
                or now >= self.first_seen[t] + self.timeout
            )
            if not done:
                break
            del self.pending[t]
            del self.first_seen[t]
            out.append(Slice(t, dict(sorted(bars.items())), self._gaps(t, bars), self.refused))
            self.refused = []
            self.released = t
        return out

    def _date(self, t: pd.Timestamp) -> np.datetime64:
        """New York session date of ``t`` (cached)."""
        d = self._dates.get(t)
        if d is None:
            if len(self._dates) > 4096:
                self._dates.clear()
            d = self._dates[t] = np.datetime64(t.tz_convert(NEW_YORK).date(), "D")
        return d

    def _gaps(self, t: pd.Timestamp, bars: dict[str, LiveBar]) -> dict[str, int]:
        gaps = {}
        day = self._date(t)
        for s in bars:
            p = self.applied.get(s)
            self.applied[s] = t
            if p is None or self._date(p) != day:
                continue
            missing = int((t - p) / self.interval) - 1
            if missing > 0:
                gaps[s] = missing
        return gaps


async def slices(source: AsyncIterable[LiveBar | SliceEnd], barrier: SliceBarrier) -> AsyncIterator[Slice]:
    """Drive ``barrier`` from ``source``: yield each minute when it is released, the rest at the end."""
    queue: asyncio.Queue[LiveBar | SliceEnd | None] = asyncio.Queue(maxsize=10_000)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        finally:
            await queue.put(None)

    task = asyncio.create_task(pump())
    barrier._wake = queue
    try:
        while not barrier.closed:
            dl = barrier.deadline()
            try:
                item = await (
                    asyncio.wait_for(queue.get(), max(0.0, dl - barrier.clock())) if dl is not None else queue.get()
                )
            except TimeoutError:
                item = SliceEnd(pd.Timestamp.min.tz_localize("UTC"))  # only the timeout rule applies
            if item is _CLOSED or barrier.closed:
                return
            if item is None:
                for sl in barrier.release(force=True):
                    yield sl
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                return
            if isinstance(item, LiveBar):
                barrier.add(item)
                ready = barrier.release()
            else:
                ready = barrier.release(item.timestamp)
            for sl in ready:
                yield sl
    finally:
        barrier._wake = None
        task.cancel()
