"""Polygon wire-format helpers shared by the fetcher, the stream and the fake server.

Units follow Polygon: timestamps are Unix **milliseconds** UTC, ``t``/``s`` is the START of the window.
Timeframe strings are the store's (``"1m"``, ``"5m"``, ``"1s"``, ``"1h"``, ``"1d"``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from tradingmodel.data.columns import STORED_BAR_COLUMNS

NEW_YORK = ZoneInfo("America/New_York")

#: Length of one unit of each supported timespan, in milliseconds (a "day" is one ET session date).
TIMESPAN_MS: dict[str, int] = {"second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
_SUFFIX = {"second": "s", "minute": "m", "hour": "h", "day": "d"}
_UNIT = {v: k for k, v in _SUFFIX.items()}

#: WebSocket event names: minute aggregates ``AM``, second aggregates ``A``.
WS_EVENT = {"minute": "AM", "second": "A"}


def timeframe_name(multiplier: int, timespan: str) -> str:
    """``(1, "minute")`` → ``"1m"``: the store's timeframe string for a Polygon request."""
    if timespan not in _SUFFIX:
        raise ValueError(f"timespan must be one of {', '.join(_SUFFIX)}, not {timespan!r}")
    if multiplier < 1:
        raise ValueError(f"multiplier must be at least 1, not {multiplier}")
    return f"{multiplier}{_SUFFIX[timespan]}"


def parse_timeframe(timeframe: str) -> tuple[int, str]:
    """``"5m"`` → ``(5, "minute")``."""
    m = re.fullmatch(r"(\d+)([smhd])", timeframe.strip())
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"timeframe must look like 1m, 5m, 1s, 1h or 1d, not {timeframe!r}")
    return int(m.group(1)), _UNIT[m.group(2)]


def to_ms(ts: Any) -> int:
    """A datetime / pandas Timestamp (naive = UTC) or int ms → Unix milliseconds."""
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return int(ts)
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return int(t.value // 1_000_000)


def ms_to_timestamp(ms: int) -> pd.Timestamp:
    """Unix milliseconds → tz-aware UTC pandas Timestamp."""
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def session_start_ms(day: date) -> int:
    """00:00 America/New_York of ``day`` in UTC ms (Polygon's day boundary)."""
    return int(datetime.combine(day, time(0), NEW_YORK).timestamp() * 1000)


def date_range_ms(start: date, end: date) -> tuple[int, int]:
    """Inclusive trading-date range → half-open ``[start_ms, end_ms)`` on ET day boundaries."""
    if end < start:
        raise ValueError(f"--to ({end}) is before --from ({start})")
    return session_start_ms(start), session_start_ms(end + timedelta(days=1))


def parse_range_bound(value: str, *, end: bool) -> int:
    """Parse Polygon's ``from``/``to`` path parts: ``YYYY-MM-DD`` (ET date) or Unix ms.

    A date as ``to`` covers the whole day (inclusive), as Polygon does; returns ms, inclusive bound.
    """
    if value.isdigit():
        return int(value)
    d = date.fromisoformat(value)
    return session_start_ms(d + timedelta(days=1)) - 1 if end else session_start_ms(d)


def agg_record(
    symbol: str, t: int, o: float, h: float, low: float, c: float, v: float, vw: float | None, n: int | None
) -> dict[str, Any]:
    """One bar as a store row dict (``timestamp`` a UTC pandas Timestamp)."""
    return {
        "symbol": symbol,
        "timestamp": ms_to_timestamp(t),
        "open": float(o),
        "high": float(h),
        "low": float(low),
        "close": float(c),
        "volume": float(v),
        "vwap": float(vw) if vw is not None else float("nan"),
        "transactions": float(n) if n is not None else float("nan"),
    }


def records_to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Store rows → a bars DataFrame sorted by (symbol, timestamp), duplicates dropped."""
    if not records:
        df = pd.DataFrame({c: pd.Series(dtype="float64") for c in STORED_BAR_COLUMNS})
        df["symbol"] = df["symbol"].astype(object)
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
        return df
    df = pd.DataFrame.from_records(records, columns=list(STORED_BAR_COLUMNS))
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df = df.drop_duplicates(["symbol", "timestamp"], keep="last")
    return df.sort_values(["symbol", "timestamp"], kind="stable").reset_index(drop=True)


def window_start(ms: int, multiplier: int, timespan: str) -> int:
    """Start (UTC ms) of the ``multiplier x timespan`` window holding ``ms``; days start at New York
    midnight (multi-day windows are taken to start ``multiplier - 1`` days earlier, conservatively)."""
    if timespan == "day":
        d = datetime.fromtimestamp(ms / 1000, NEW_YORK).date()
        return session_start_ms(d - timedelta(days=multiplier - 1))
    width = multiplier * TIMESPAN_MS[timespan]
    return ms // width * width
