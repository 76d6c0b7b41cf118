"""Times, config and bar loading shared by every command (options: :mod:`tradingmodel.cli.options`, errors:
:mod:`tradingmodel.cli.errors`)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from tradingmodel.cli.errors import UserError, add_command, console, friendly_errors, print_note
from tradingmodel.cli.options import TIME_RULE, BarOptions
from tradingmodel.config import AppConfig, load_config

__all__ = [
    "TIME_RULE",
    "UserError",
    "add_command",
    "console",
    "friendly_errors",
    "out",
    "print_note",
]

out = Console()

NEW_YORK = "America/New_York"

_TIME_PART = re.compile(r"\d[Tt ]\d|:")


def cli_time(value: str, option: str, *, end: bool = False) -> pd.Timestamp:
    """A time typed on the command line, as UTC: without an offset it is New York exchange time, an
    explicit offset wins; a date is the New York day (as an ``end``, the whole day is included, so the
    bound is the next New York midnight)."""
    text = value.strip()
    try:  # ISO 8601 only: pandas would also read "Jan 2" as 2 January of the current year
        ts = pd.Timestamp(datetime.fromisoformat(text))
    except ValueError:
        raise UserError(
            f"{option}: cannot read {value!r} as a date or time; give e.g. 2024-01-02, "
            "2024-01-02T09:30 (New York time) or 2024-01-02T14:30Z"
        ) from None
    is_date = _TIME_PART.search(text) is None
    if ts.tzinfo is not None:
        return ts.tz_convert("UTC")
    if is_date and end:
        ts = ts.normalize() + pd.Timedelta(days=1)
    try:
        return ts.tz_localize(NEW_YORK, nonexistent="raise", ambiguous="raise").tz_convert("UTC")
    except (ValueError, TypeError) as e:  # pytz/zoneinfo: NonExistentTimeError, AmbiguousTimeError
        raise UserError(
            f"{option}: {value} is not a single New York time (daylight-saving change: {e}); "
            "give it with an offset, e.g. -04:00"
        ) from None


def working(message: str) -> Any:
    """A transient spinner with ``message`` on stderr, for steps without a countable total (reading a file,
    simulating, computing features); steps with a total use a progress bar instead."""
    return console.status(f"[cyan]{message}[/]", spinner="dots")


def get_config(
    path: Path | None, model: dict[str, Any] | None = None, trading: dict[str, Any] | None = None
) -> AppConfig:
    """Load ``--config`` and apply per-option overrides (``None`` values are ignored)."""
    return load_config(path, {"model": model or {}, "trading": trading or {}})


def input_bars(
    data: Path | None = None,
    symbols: str | None = None,
    start: str | None = None,
    end: str | None = None,
    timeframe: str = "1m",
) -> tuple[pd.DataFrame, str]:
    """Bars from ``--data FILE`` or, without it, from the database; returns ``(bars, source)``.

    The options are read here (``--from``/``--to`` by the CLI's time rule; they belong to the database
    and are refused with a file rather than silently ignored); the loading is the service's
    (:func:`tradingmodel.services.inputs.load_input_bars`). Bars left out as outside US regular hours are
    reported in a note: the strategy trades the regular session.
    """
    from tradingmodel.data.sessions import REGULAR_HOURS_TEXT
    from tradingmodel.services.inputs import BarSource, load_input_bars

    wanted = split_symbols(symbols)
    if data is None:
        lo = cli_time(start, "--from") if start is not None else None
        hi = cli_time(end, "--to", end=True) if end is not None else None
        if lo is not None and hi is not None and hi <= lo:
            raise UserError(f"--to ({end}) is not after --from ({start}); {TIME_RULE}")
        src = BarSource(None, wanted, lo, hi, timeframe, range_label=f"{start or 'first'} to {end or 'last'}")
        message = "reading bars from the database"
    elif start is not None or end is not None:
        raise UserError("--from/--to select bars in the database; give them without --data, or cut the file")
    else:
        src, message = BarSource(data, wanted), f"reading {data}"
    with working(message):
        loaded = load_input_bars(src)
    if loaded.outside_hours:
        print_note(
            f"{loaded.source}: left out {loaded.outside_hours:,} bars outside regular hours ({REGULAR_HOURS_TEXT})"
        )
    return loaded.bars, loaded.source


def load_inputs(inputs: BarOptions) -> tuple[pd.DataFrame, str]:
    """:func:`input_bars` of a command's bar options."""
    return input_bars(inputs.data, inputs.symbols, inputs.start, inputs.end, inputs.timeframe)


def plural(n: int, word: str) -> str:
    """``1 symbol``, ``3 symbols``, ``1,200 bars``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def split_symbols(symbols: str | None) -> list[str] | None:
    """``"AAPL, msft"`` → ``["AAPL", "MSFT"]``; ``None`` stays ``None``."""
    if symbols is None:
        return None
    items = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not items:
        raise UserError("--symbols is empty")
    return items


def open_db(url: str | None, no_db: bool = False) -> Any:
    """The database a run is recorded in (``--db``, default ``DATABASE_URL``), opened and migrated now, so a
    bad URL or an outdated schema fails before any work; ``None`` with ``--no-db``."""
    if no_db:
        return None
    from tradingmodel.store import get_engine

    return get_engine(url)


def db_label(engine: Any) -> str:
    """The database URL to print (password hidden)."""
    return engine.url.render_as_string(hide_password=True)
