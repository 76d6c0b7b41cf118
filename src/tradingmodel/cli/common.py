"""Options, times and bar loading shared by every command (errors: :mod:`tradingmodel.cli.errors`)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console

from tradingmodel.cli.errors import UserError, add_command, console, friendly_errors, print_note
from tradingmodel.config import AppConfig, load_config

__all__ = ["UserError", "add_command", "console", "friendly_errors", "out", "print_note"]

out = Console()

NEW_YORK = "America/New_York"
# The one time rule of the CLI, quoted in the options' help and in docs/data.md.
TIME_RULE = "New York exchange time unless it has an offset (Z, +00:00), a date is a New York date"

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (\\[model] and \\[trading] tables, docs/configuration.md)."),
]

ReportsOption = Annotated[Path, typer.Option("--reports", help="Folder for run folders (metrics, report.html).")]
NoReportOption = Annotated[bool, typer.Option("--no-report", help="Write no run folder.")]

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Bar file (.csv/.parquet). Without it, bars come from the database (DATABASE_URL), "
        "selected by --symbols, --from and --to.",
    ),
]
SymbolsOption = Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols (default: all).")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help=f"Database only: first bar, a date or time, e.g. 2024-01-02 or 2024-01-02T09:30 ({TIME_RULE})."
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Database only: end, same form as --from; a date includes that whole New York day, a time is exclusive.",
    ),
]
TimeframeOption = Annotated[str, typer.Option("--timeframe", help="Database only: bar size, e.g. 1m, 5m, 1h, 1d.")]

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


def load_bars(
    data: Path | None,
    symbols: str | None = None,
    start: str | None = None,
    end: str | None = None,
    timeframe: str = "1m",
) -> tuple[pd.DataFrame, str]:
    """Bars from ``--data FILE`` or, without it, from the database; returns ``(bars, source)``.

    With a file, ``--symbols`` keeps those symbols (an unknown one is an error); ``--from``/``--to``
    belong to the database and are refused with a file rather than silently ignored. Intraday bars
    outside US regular hours are left out, with a note: the strategy trades the regular session.
    """
    wanted = split_symbols(symbols)
    if data is None:
        from tradingmodel.config import Settings
        from tradingmodel.store import load_bars_for_cli

        lo = cli_time(start, "--from") if start is not None else None
        hi = cli_time(end, "--to", end=True) if end is not None else None
        if lo is not None and hi is not None and hi <= lo:
            raise UserError(f"--to ({end}) is not after --from ({start}); {TIME_RULE}")
        with working("reading bars from the database"):
            bars = load_bars_for_cli(wanted, lo, hi, timeframe=timeframe)
        url = Settings().database_url
        source = f"database {url.split('@')[-1]} ({timeframe}, {start or 'first'} to {end or 'last'})"
        return _regular_hours(bars, source), source
    if start is not None or end is not None:
        raise UserError("--from/--to select bars in the database; give them without --data, or cut the file")
    from tradingmodel.data import read_bars

    with working(f"reading {data}"):
        bars = read_bars(data)
    if bars.empty:
        raise UserError(f"{data}: the file has no bars (a header and no data rows)")
    if wanted:
        unknown = sorted(set(wanted) - set(bars["symbol"]))
        if unknown:
            raise UserError(
                f"{data}: no bars for symbol(s) {', '.join(unknown)} "
                f"(the file has {', '.join(sorted(bars['symbol'].unique()))})"
            )
        bars = bars[bars["symbol"].isin(wanted)].reset_index(drop=True)
    return _regular_hours(bars, str(data)), str(data)


def _regular_hours(bars: pd.DataFrame, source: str) -> pd.DataFrame:
    """Intraday bars restricted to US regular hours (Polygon also serves pre- and after-market bars), by
    the NYSE calendar; bars of an hour or more are left alone (see ``data.sessions.is_intraday``)."""
    from tradingmodel.data import regular_hours
    from tradingmodel.data.sessions import REGULAR_HOURS_TEXT, is_intraday

    if not is_intraday(bars):
        return bars
    kept = regular_hours(bars)
    if len(kept) == 0:
        raise UserError(f"{source}: no bar inside US regular hours ({REGULAR_HOURS_TEXT})")
    if len(kept) < len(bars):
        print_note(f"{source}: left out {len(bars) - len(kept):,} bars outside regular hours ({REGULAR_HOURS_TEXT})")
    return kept


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
