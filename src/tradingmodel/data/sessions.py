"""US regular trading sessions from the NYSE calendar (``exchange-calendars``, the maintained ``XNYS`` one).

A session is one NYSE trading day: 09:30–16:00 America/New_York, or 09:30–13:00 on early-close days
(the day before Independence Day, the day after Thanksgiving, Christmas Eve); exchange holidays have no
session. Every rule that needs "the regular session" uses this module: the regular-hours filter, the
session's last bar (``flatten_at_close``), the simulator's days.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

NEW_YORK = "America/New_York"
EXCHANGE = "XNYS"
SESSION_OPEN = "09:30"
SESSION_CLOSE = "16:00"
BARS_PER_SESSION = 390  # one-minute bars of a full session, 09:30 to 15:59 (bar start times)
TIMESTAMP_DTYPE = "datetime64[us, UTC]"
_BLOCK_YEARS = 10  # the calendar is built for whole decades (building one takes about a second)


@functools.lru_cache(maxsize=8)
def _block(first_year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session dates as datetime64[D], open ns UTC, close ns UTC) of the decade from ``first_year``."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar(EXCHANGE, start=f"{first_year}-01-01", end=f"{first_year + _BLOCK_YEARS - 1}-12-31")
    sched = cal.schedule
    dates = sched.index.values.astype("datetime64[D]")
    return (dates, pd.DatetimeIndex(sched["open"].array).as_unit("ns").asi8,
            pd.DatetimeIndex(sched["close"].array).as_unit("ns").asi8)


def _schedule(first: np.datetime64, last: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The NYSE sessions of every decade touching ``first`` .. ``last`` (datetime64[D])."""
    y0 = int(str(first)[:4]) // _BLOCK_YEARS * _BLOCK_YEARS
    y1 = int(str(last)[:4]) // _BLOCK_YEARS * _BLOCK_YEARS
    parts = [_block(y) for y in range(y0, y1 + 1, _BLOCK_YEARS)]
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def _start_date(start: str | pd.Timestamp) -> pd.Timestamp:
    try:
        first = pd.Timestamp(start)
    except (ValueError, TypeError) as e:
        raise ValueError(f"start: not a date: {start!r}") from e
    if first is pd.NaT:
        raise ValueError(f"start: not a date: {start!r}")
    if first.tzinfo is not None:
        first = first.tz_convert(NEW_YORK).tz_localize(None)
    return first.normalize()


def session_schedule(start: str | pd.Timestamp, days: int) -> pd.DataFrame:
    """The first ``days`` NYSE sessions on or after ``start``: ``date`` (naive), ``open``, ``close`` (UTC)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    first = np.datetime64(_start_date(start).date(), "D")
    last = first + np.timedelta64(int(days * 7 / 5) + 30, "D")  # enough calendar days for ``days`` sessions
    while True:
        dates, opens, closes = _schedule(first, last)
        lo = int(np.searchsorted(dates, first))
        if dates.size - lo >= days:
            break
        last = last + np.timedelta64(3650, "D")
    sl = slice(lo, lo + days)
    return pd.DataFrame({"date": pd.DatetimeIndex(dates[sl]),
                         "open": pd.DatetimeIndex(opens[sl]).tz_localize("UTC"),
                         "close": pd.DatetimeIndex(closes[sl]).tz_localize("UTC")})


def session_dates(start: str | pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """The first ``days`` NYSE sessions on or after ``start`` (naive dates; holidays skipped)."""
    return pd.DatetimeIndex(session_schedule(start, days)["date"])


def session_timestamps(start: str | pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """UTC start times of every one-minute bar of ``days`` NYSE sessions (DST handled, early closes end
    the session at 13:00 New York, so those days have 210 bars)."""
    sched = session_schedule(start, days)
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8
    minute = np.int64(60_000_000_000)
    grid = opens[:, None] + np.arange(BARS_PER_SESSION, dtype=np.int64)[None, :] * minute
    keep = grid < pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8[:, None]
    idx = pd.DatetimeIndex(grid[keep]).tz_localize("UTC")
    return idx.astype(TIMESTAMP_DTYPE)


def new_york_dates(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """New York calendar date (``datetime64[D]``) of each timestamp (naive input is taken as UTC)."""
    return _utc_index(timestamps).tz_convert(NEW_YORK).tz_localize(None).values.astype("datetime64[D]")


def _utc_index(timestamps: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(timestamps)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx


def session_bounds(timestamps: pd.Series | pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """UTC open and close (int64 ns) of the NYSE session on each timestamp's New York date; both are
    ``-1`` on a date without a session (weekend, holiday)."""
    idx = _utc_index(timestamps)
    n = len(idx)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = new_york_dates(idx)
    dates, opens, closes = _schedule(d.min(), d.max())
    j = np.searchsorted(dates, d)
    jc = np.minimum(j, dates.size - 1)
    hit = dates[jc] == d
    return np.where(hit, opens[jc], -1), np.where(hit, closes[jc], -1)


def in_session_mask(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """True for bars that start inside a NYSE session: open <= start < close of their New York date."""
    idx = _utc_index(timestamps)
    ns = idx.as_unit("ns").asi8
    open_, close = session_bounds(idx)
    return (open_ >= 0) & (ns >= open_) & (ns < close)


def last_bar_of_session(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """True on the last bar of each session, for one symbol's sorted timestamps: the last bar of its New
    York date, or the last bar before the session's close when later bars of the date follow (after-hours
    bars, or bars past an early close)."""
    idx = _utc_index(timestamps)
    d = new_york_dates(idx)
    out = np.ones(d.shape[0], dtype=bool)
    if d.shape[0] > 1:
        out[:-1] = d[1:] != d[:-1]
        ns = idx.as_unit("ns").asi8
        inside = in_session_mask(idx)
        out[:-1] |= inside[:-1] & ~inside[1:] & (ns[1:] > ns[:-1])
    return out


def regular_hours_mask(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """True for bars that start inside US regular hours: a NYSE session, 09:30 New York to its close
    (16:00, or 13:00 on early-close days); no bar on a weekend or exchange holiday.

    Polygon's minute aggregates include pre- and after-market bars (04:00–20:00 New York); the model,
    the strategy and the session-close rule are defined on regular hours only.
    """
    return in_session_mask(timestamps)


def regular_hours(bars: pd.DataFrame) -> pd.DataFrame:
    """Only the bars inside US regular hours (see :func:`regular_hours_mask`), index reset."""
    keep = regular_hours_mask(bars["timestamp"])
    if keep.all():
        return bars
    return bars.loc[keep].reset_index(drop=True)


def is_intraday(bars: pd.DataFrame) -> bool:
    """True when the bars are shorter than an hour (median spacing within a symbol): the regular-hours
    filter applies to them only. An hourly bar starting at 09:00 already covers the open, so a start-time
    rule would drop real session data; a daily bar's timestamp is not a time of day at all."""
    if len(bars) < 2:
        return False
    step = bars.groupby("symbol")["timestamp"].diff().median()
    return not (pd.isna(step) or step >= pd.Timedelta(hours=1))


REGULAR_HOURS_TEXT = "NYSE sessions: 09:30-16:00 New York, 13:00 on early closes, no weekends or holidays"
