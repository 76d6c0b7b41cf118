"""Load bars: the input of every use case, from a bar file or from the database, in regular hours.

The one rule of the project: intraday bars outside US regular hours are left out before modelling or
trading (Polygon also serves pre- and after-market bars; the strategy trades the regular session), by the
NYSE calendar; bars of an hour or more are left alone (see ``data.sessions.is_intraday``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tradingmodel.services.errors import Invalid, NotFound


@dataclass(frozen=True)
class BarSource:
    """Where the bars come from: ``data`` (a .csv/.parquet bar file) or, without it, the database at
    ``database_url`` (``None``: ``DATABASE_URL``) selected by ``symbols``, ``start`` and ``end`` (UTC times,
    or ISO text where a date as ``end`` includes that day; ``start <= timestamp < end``)."""

    data: Path | None = None
    symbols: list[str] | None = None  # None: all (of the file or the database)
    start: Any = None
    end: Any = None
    timeframe: str = "1m"
    database_url: str | None = None
    range_label: str | None = None  # how the range is shown in the source label (default: start to end)


@dataclass
class LoadedBars:
    """The bars (bars convention, regular hours only), a label of where they came from, and how many
    bars outside regular hours were left out (the caller tells the user)."""

    bars: pd.DataFrame
    source: str
    outside_hours: int = 0


def load_input_bars(src: BarSource) -> LoadedBars:
    """Bars of ``src``; :class:`Invalid`/:class:`NotFound` (both ``ValueError``) for an empty file, a
    symbol the file or database does not have, a range selected on a file, or no regular-hours bar."""
    if src.data is None:
        from tradingmodel.config import Settings
        from tradingmodel.store import load_bars_checked

        bars = load_bars_checked(src.symbols, src.start, src.end, timeframe=src.timeframe, url=src.database_url)
        url = src.database_url or Settings().database_url
        span = src.range_label or f"{src.start or 'first'} to {src.end or 'last'}"
        source = f"database {url.split('@')[-1]} ({src.timeframe}, {span})"
        return _in_hours(bars, source)
    if src.start is not None or src.end is not None:
        raise Invalid("a time range selects bars in the database; give it without a bar file, or cut the file")
    from tradingmodel.data import read_bar_file

    bars = read_bar_file(src.data)
    if bars.empty:
        raise Invalid(f"{src.data}: the file has no bars (a header and no data rows)")
    if src.symbols:
        unknown = sorted(set(src.symbols) - set(bars["symbol"]))
        if unknown:
            raise NotFound(
                f"{src.data}: no bars for symbol(s) {', '.join(unknown)} "
                f"(the file has {', '.join(sorted(bars['symbol'].unique()))})"
            )
        bars = bars[bars["symbol"].isin(src.symbols)].reset_index(drop=True)
    return _in_hours(bars, str(src.data))


def regular_session(bars: pd.DataFrame) -> pd.DataFrame:
    """Intraday bars restricted to US regular hours; hourly and daily bars unchanged (may be empty)."""
    from tradingmodel.data import regular_hours
    from tradingmodel.data.sessions import is_intraday

    return regular_hours(bars) if is_intraday(bars) else bars


def _in_hours(bars: pd.DataFrame, source: str) -> LoadedBars:
    from tradingmodel.data.sessions import REGULAR_HOURS_TEXT

    kept = regular_session(bars)
    if len(kept) == 0:
        raise Invalid(f"{source}: no bar inside US regular hours ({REGULAR_HOURS_TEXT})")
    return LoadedBars(kept, source, len(bars) - len(kept))
