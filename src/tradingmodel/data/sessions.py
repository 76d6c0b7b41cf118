"""US regular trading sessions: 09:30–16:00 America/New_York, weekdays (exchange holidays ignored)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NEW_YORK = "America/New_York"
SESSION_OPEN = "09:30"
SESSION_CLOSE = "16:00"
BARS_PER_SESSION = 390  # one-minute bars from 09:30 to 15:59 (bar start times)
TIMESTAMP_DTYPE = "datetime64[us, UTC]"


def session_dates(start: str | pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """The first ``days`` weekdays on or after ``start`` (naive dates; US holidays are not skipped)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    try:
        first = pd.Timestamp(start)
    except (ValueError, TypeError) as e:
        raise ValueError(f"start: not a date: {start!r}") from e
    if first is pd.NaT:
        raise ValueError(f"start: not a date: {start!r}")
    if first.tzinfo is not None:
        first = first.tz_convert(NEW_YORK).tz_localize(None)
    return pd.bdate_range(first.normalize(), periods=days)


def session_timestamps(start: str | pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """UTC start times of every one-minute bar of ``days`` regular sessions (DST handled)."""
    dates = session_dates(start, days)
    minutes = np.arange(BARS_PER_SESSION, dtype="int64") + (9 * 60 + 30)
    local = (dates.values.astype("datetime64[m]")[:, None] + minutes[None, :].astype("timedelta64[m]")).ravel()
    idx = pd.DatetimeIndex(local).tz_localize(NEW_YORK).tz_convert("UTC")
    return idx.astype(TIMESTAMP_DTYPE)


def new_york_dates(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """New York calendar date (``datetime64[D]``) of each timestamp (naive input is taken as UTC)."""
    idx = pd.DatetimeIndex(timestamps)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.tz_convert(NEW_YORK).tz_localize(None).values.astype("datetime64[D]")


def last_bar_of_session(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """True on the last bar of each New York trading date, for one symbol's sorted timestamps."""
    d = new_york_dates(timestamps)
    out = np.ones(d.shape[0], dtype=bool)
    if d.shape[0] > 1:
        out[:-1] = d[1:] != d[:-1]
    return out


def regular_hours_mask(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """True for bars that start inside US regular hours: weekdays, 09:30 <= New York time < 16:00.

    Polygon's minute aggregates include pre- and after-market bars (04:00–20:00 New York); the model,
    the strategy and the session-close rule are defined on regular hours only.
    """
    idx = pd.DatetimeIndex(timestamps)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    local = idx.tz_convert(NEW_YORK)
    minutes = local.hour * 60 + local.minute
    open_m = int(SESSION_OPEN[:2]) * 60 + int(SESSION_OPEN[3:])
    close_m = int(SESSION_CLOSE[:2]) * 60 + int(SESSION_CLOSE[3:])
    return np.asarray((local.day_of_week < 5) & (minutes >= open_m) & (minutes < close_m))


def regular_hours(bars: pd.DataFrame) -> pd.DataFrame:
    """Only the bars inside US regular hours (see :func:`regular_hours_mask`), index reset."""
    keep = regular_hours_mask(bars["timestamp"])
    if keep.all():
        return bars
    return bars.loc[keep].reset_index(drop=True)
