"""Bar sources of a session: ``replay`` (file or database), ``simulator`` (generated as time passes) and
``polygon`` (the live stream with back-fill).

A source is an async iterator of :class:`LiveBar` and, where it knows that a minute is complete,
:class:`SliceEnd` markers (replay and simulator do; the live stream does not, the barrier's timeout closes
its minutes). ``history(upto)`` gives the bars a restarted session warms its predictor up from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.data.sessions import NEW_YORK, SESSION_CLOSE, new_york_dates


@dataclass(frozen=True)
class LiveBar:
    """One closed bar as the engine receives it. ``session_last``: last bar of its session (None: unknown,
    the engine then uses the calendar)."""

    symbol: str
    timestamp: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    session_last: bool | None = None


@dataclass(frozen=True)
class SliceEnd:
    """No more bars at or before ``timestamp`` will come from this source."""

    timestamp: pd.Timestamp


def calendar_session_last(ts: pd.Timestamp, interval: pd.Timedelta = pd.Timedelta(minutes=1)) -> bool:
    """Whether a bar starting at ``ts`` is the last of the regular session (16:00 New York close)."""
    local = ts.tz_convert(NEW_YORK)
    close = local.normalize() + pd.Timedelta(hours=int(SESSION_CLOSE[:2]), minutes=int(SESSION_CLOSE[3:]))
    return local + interval >= close


def _session_last(frame: pd.DataFrame) -> np.ndarray:
    """The backtest's rule (``backtest.prepare``): a symbol's bar is its session's last when its next bar
    is on another New York date or it is the symbol's last bar. On a replay this is what the exchange
    calendar tells a live engine (a data file that stops mid-session counts its last bar as the close)."""
    d = new_york_dates(frame["timestamp"]).astype(np.int64)
    sym = frame["symbol"].to_numpy()
    out = np.ones(len(frame), dtype=bool)
    out[:-1] = (d[1:] != d[:-1]) | (sym[1:] != sym[:-1])
    return out


class ReplaySource:
    """Bars of a frame in time order at ``speed`` x real time (0: as fast as possible).

    Bars at or before ``start_after`` are history (warm-up only). ``warmup_slices`` leading minutes are history
    too (the simulator's warm-up, so that a new session can trade at once)."""

    name = "replay"

    def __init__(self, bars: pd.DataFrame, *, speed: float = 0.0, warmup_slices: int = 0, source: str = "bars") -> None:
        from tradingmodel.data import validate_bars

        if speed < 0:
            raise ValueError(f"--speed must be 0 (as fast as possible) or positive, got {speed}")
        frame = validate_bars(bars, source).reset_index(drop=True)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frame["session_last"] = _session_last(frame)
        self.frame = frame.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
        self.symbols = sorted(self.frame["symbol"].unique().tolist())
        self.speed = speed
        times = self.frame["timestamp"].drop_duplicates()
        self.warmup_until = times.iloc[warmup_slices - 1] if 0 < warmup_slices <= len(times) else None
        self.start_after: pd.Timestamp | None = None

    def resume_point(self, last_bar: pd.Timestamp | None) -> pd.Timestamp | None:
        """Where trading starts: after the session's last processed bar and after the warm-up."""
        points = [t for t in (last_bar, self.warmup_until) if t is not None]
        self.start_after = max(points) if points else None
        return self.start_after

    def history(self) -> pd.DataFrame:
        """Bars up to the resume point (oldest first), for the predictor's warm-up."""
        if self.start_after is None:
            return self.frame.iloc[:0]
        return self.frame[self.frame["timestamp"] <= self.start_after]

    async def __aiter__(self) -> AsyncIterator[LiveBar | SliceEnd]:
        f = self.frame if self.start_after is None else self.frame[self.frame["timestamp"] > self.start_after]
        if len(f) == 0:
            return
        cols = [f[c].to_numpy() for c in ("symbol", "open", "high", "low", "close", "volume", "session_last")]
        ts = f["timestamp"]
        bounds = np.flatnonzero(np.r_[True, ts.to_numpy()[1:] != ts.to_numpy()[:-1], True])
        start_wall, start_bar = time.monotonic(), None
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            t = ts.iat[a]
            if self.speed > 0:
                start_bar = start_bar if start_bar is not None else t
                due = start_wall + (t - start_bar).total_seconds() / self.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            for i in range(a, b):
                yield LiveBar(
                    str(cols[0][i]),
                    t,
                    float(cols[1][i]),
                    float(cols[2][i]),
                    float(cols[3][i]),
                    float(cols[4][i]),
                    float(cols[5][i]),
                    bool(cols[6][i]),
                )
            yield SliceEnd(t)
            await asyncio.sleep(0)  # let signal handlers and subscribers run


def simulator_source(
    symbols: Sequence[str],
    *,
    days: int = 5,
    seed: int = 7,
    speed: float = 1.0,
    warmup_slices: int = 120,
    start: str = "2024-01-02",
) -> ReplaySource:
    """The embedded simulator's bars for ``symbols`` streamed as time passes (``speed`` x real time), the
    first ``warmup_slices`` minutes fed at once as warm-up history."""
    from tradingmodel.data import simulate

    bars = simulate(list(symbols), days, seed=seed, signal=1.0, start=start)
    src = ReplaySource(bars, speed=speed, warmup_slices=warmup_slices, source="simulator")
    src.name = "simulator"
    return src


class PolygonSource:
    """Bars from Polygon's WebSocket (:class:`~tradingmodel.data.polygon.stream.BarStream`): after a restart
    it back-fills from the session's last processed bar over REST, then goes live; reconnects back-fill too.
    Warm-up history comes from the database's stored bars when there are any."""

    name = "polygon"

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        api_key: str,
        ws_url: str,
        rest_base_url: str,
        history: pd.DataFrame | None = None,
        stream_options: dict[str, Any] | None = None,
        since: pd.Timestamp | None = None,
    ) -> None:
        self.symbols = sorted(symbols)
        self.kw = dict(api_key=api_key, ws_url=ws_url, rest_base_url=rest_base_url, **(stream_options or {}))
        self._history = history
        self.start_after: pd.Timestamp | None = None
        self.stream: Any = None
        self.since = since  # a new session's first bar to back-fill from (None: live bars only)

    def resume_point(self, last_bar: pd.Timestamp | None) -> pd.Timestamp | None:
        self.start_after = last_bar
        return last_bar

    def history(self) -> pd.DataFrame:
        h = self._history
        if h is None or len(h) == 0:
            return pd.DataFrame(columns=["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        h = h.assign(timestamp=pd.to_datetime(h["timestamp"], utc=True))
        if self.start_after is not None:
            h = h[h["timestamp"] <= self.start_after]
        return h.sort_values(["timestamp", "symbol"]).reset_index(drop=True)

    async def __aiter__(self) -> AsyncIterator[LiveBar | SliceEnd]:
        from tradingmodel.data.polygon.stream import BarStream

        since = self.since if self.start_after is None else self.start_after + pd.Timedelta(minutes=1)
        self.stream = BarStream(self.symbols, since=since, **self.kw)
        try:
            async for b in self.stream:
                if b.timeframe != "1m":
                    continue
                ts = b.timestamp
                yield LiveBar(b.symbol, ts, b.open, b.high, b.low, b.close, b.volume, calendar_session_last(ts))
        finally:
            await self.stream.aclose()
