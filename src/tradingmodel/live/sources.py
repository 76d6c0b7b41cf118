"""Bar sources of a session: ``replay`` (file or database), ``simulator`` (generated as time passes) and
``polygon`` (the live stream with back-fill).

A source is an async iterator of :class:`LiveBar` and, where it knows that a minute is complete,
:class:`SliceEnd` markers (replay and simulator do; the live stream does not, the barrier's timeout closes
its minutes). ``history(upto)`` gives the bars a restarted session warms its predictor up from.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.data.sessions import in_session_mask, new_york_dates, session_bounds
from tradingmodel.features.streaming import LIVE_BUFFER_BARS


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


@functools.lru_cache(maxsize=8192)
def _calendar(ns: int, interval_ns: int) -> tuple[bool, bool]:
    """(inside a regular session, last bar of it) for a bar starting at ``ns`` (cached: called per bar)."""
    idx = pd.DatetimeIndex([ns], tz="UTC")
    inside = bool(in_session_mask(idx)[0])
    return inside, inside and ns + interval_ns >= int(session_bounds(idx)[1][0])


def calendar_session_last(ts: pd.Timestamp, interval: pd.Timedelta = pd.Timedelta(minutes=1)) -> bool:
    """Whether a bar starting at ``ts`` is the last of its regular session by the NYSE calendar (16:00 New
    York, 13:00 on early closes); a bar on a day without a session is never a session's last."""
    return _calendar(ts.value, interval.value)[1]


def in_regular_hours(ts: pd.Timestamp) -> bool:
    """Whether a bar starting at ``ts`` lies inside a NYSE regular session (Polygon also streams pre- and
    after-market bars; the model and the strategy know regular hours only)."""
    return _calendar(ts.value, pd.Timedelta(minutes=1).value)[0]


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


class PolygonSourceError(ValueError):
    """The polygon source cannot go on (REST refused the warm-up, the stream gave up); the message says why.
    A ``ValueError``, so the CLI prints it as one line and exits 2; a restart resumes after the last bar."""


class PolygonSource:
    """Bars from Polygon's WebSocket (:class:`~tradingmodel.data.polygon.stream.BarStream`), regular hours only.

    Warm-up: ``history`` when given (e.g. stored bars), else the last ``warmup_bars`` regular-hours bars of
    each symbol from REST, up to the session's last processed bar (a restart) or up to the last minute that
    has ended (a new session, which then trades from the next bar on). The stream starts right after the
    warm-up (or after the last processed bar) and back-fills over REST whatever it missed, at start and after
    every reconnect, so that no bar is skipped and none is delivered twice."""

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
        warmup_bars: int = LIVE_BUFFER_BARS,
        lookback: pd.Timedelta = pd.Timedelta(days=7),
    ) -> None:
        self.symbols = sorted(symbols)
        self.kw = dict(api_key=api_key, ws_url=ws_url, rest_base_url=rest_base_url, **(stream_options or {}))
        self._history = history
        self.start_after: pd.Timestamp | None = None
        self.stream: Any = None
        self.since = since  # a new session's first bar to back-fill from (None: after the warm-up, or live)
        self.warmup_bars, self.lookback = warmup_bars, lookback
        self.skipped = 0  # bars outside regular hours, not handed on

    def resume_point(self, last_bar: pd.Timestamp | None) -> pd.Timestamp | None:
        self.start_after = last_bar
        return last_bar

    def history(self) -> pd.DataFrame:
        """Warm-up bars (oldest first): the given ones up to the resume point, or from REST."""
        h = self._history if self._history is not None else self._rest_history()
        if len(h) == 0:
            return pd.DataFrame(columns=["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        h = h.assign(timestamp=pd.to_datetime(h["timestamp"], utc=True))
        if self.start_after is not None:
            h = h[h["timestamp"] <= self.start_after]
        h = h.sort_values(["timestamp", "symbol"]).reset_index(drop=True)
        if self.start_after is None and self.since is None and len(h):
            self.since = h["timestamp"].max() + pd.Timedelta(minutes=1)  # go on right after the warm-up
        return h

    def _rest_history(self) -> pd.DataFrame:
        """The last ``warmup_bars`` regular-hours minute bars per symbol, ending at the resume point."""
        from tradingmodel.data.polygon.client import FetchPolicy, PolygonREST
        from tradingmodel.data.polygon.history import explain

        if self.warmup_bars <= 0:
            return pd.DataFrame()
        if self.start_after is not None:
            hi = int(self.start_after.value // 10**6)
        else:  # the newest window that has ended (REST may already serve the one being built)
            now = int(time.time() * 1000)
            hi = now - now % 60_000 - 60_000
        lo = hi - int(self.lookback.value // 10**6)
        rest = PolygonREST(self.kw["api_key"], self.kw["rest_base_url"], FetchPolicy(max_retries=3))
        frames = []
        for sym in self.symbols:
            rest.pool.seen = set()  # a repeated next_url raises instead of looping
            try:
                aggs = list(rest.client.list_aggs(sym, 1, "minute", lo, hi, sort="asc", limit=50_000))
            except Exception as e:
                err = explain(e, rest.pool.last_status, sym, "1m warm-up history")
                raise PolygonSourceError(f"polygon source: {err}") from None
            f = pd.DataFrame(
                {
                    "symbol": sym,
                    "timestamp": pd.to_datetime([int(a.timestamp) for a in aggs], unit="ms", utc=True),
                    "open": [float(a.open) for a in aggs],
                    "high": [float(a.high) for a in aggs],
                    "low": [float(a.low) for a in aggs],
                    "close": [float(a.close) for a in aggs],
                    "volume": [float(a.volume) for a in aggs],
                }
            )
            f = f[(f["timestamp"].astype("int64") // 10**6 <= hi) & in_session_mask(f["timestamp"])]
            frames.append(f.tail(self.warmup_bars))
        return pd.concat(frames, ignore_index=True)

    async def __aiter__(self) -> AsyncIterator[LiveBar | SliceEnd]:
        from tradingmodel.data.polygon.stream import BarStream, StreamError

        since = self.since if self.start_after is None else self.start_after + pd.Timedelta(minutes=1)
        self.stream = BarStream(self.symbols, since=since, **self.kw)
        try:
            async for b in self._checked(StreamError):
                if b.timeframe != "1m":
                    continue
                ts = b.timestamp
                inside, last = _calendar(ts.value, 60_000_000_000)
                if not inside:
                    self.skipped += 1
                    continue
                yield LiveBar(b.symbol, ts, b.open, b.high, b.low, b.close, b.volume, last)
        finally:
            await self.stream.aclose()

    async def _checked(self, errors: type[Exception]) -> AsyncIterator[Any]:
        try:
            async for b in self.stream:
                yield b
        except errors as e:
            raise PolygonSourceError(f"polygon source stopped: {e}") from None
