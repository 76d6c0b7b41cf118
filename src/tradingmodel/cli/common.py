"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console

from tradingmodel.config import AppConfig, ConfigError, load_config

console = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (\\[model] and \\[trading] tables).")
]

ReportsOption = Annotated[Path, typer.Option("--reports", help="Folder for run folders (metrics, report.html).")]
NoReportOption = Annotated[bool, typer.Option("--no-report", help="Write no run folder.")]

DataOption = Annotated[Path | None, typer.Option(
    "--data", help="Bar file (.csv/.parquet). Without it, bars come from the database (DATABASE_URL), "
                   "selected by --symbols, --from and --to.")]
SymbolsOption = Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols (default: all).")]
FromOption = Annotated[str | None, typer.Option("--from", help="Database only: first bar time (UTC ISO or date).")]
ToOption = Annotated[str | None, typer.Option("--to", help="Database only: last bar time; a date includes that day.")]
TimeframeOption = Annotated[str, typer.Option("--timeframe", help="Database only: bar size, e.g. 1m, 5m, 1h, 1d.")]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback, exit code 2."""


def friendly_errors(func: F) -> F:
    """Turn user errors (bad config, bad file, bad argument) into one red line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UserError, ConfigError, ValueError, FileNotFoundError) as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def working(message: str) -> Any:
    """A transient spinner with ``message`` on stderr, for steps without a countable total (reading a file,
    simulating, computing features); steps with a total use a progress bar instead."""
    return console.status(f"[cyan]{message}[/]", spinner="dots")


def get_config(path: Path | None, model: dict[str, Any] | None = None,
               trading: dict[str, Any] | None = None) -> AppConfig:
    """Load ``--config`` and apply per-option overrides (``None`` values are ignored)."""
    return load_config(path, {"model": model or {}, "trading": trading or {}})


def load_bars(data: Path | None, symbols: str | None = None, start: str | None = None, end: str | None = None,
              timeframe: str = "1m") -> tuple[pd.DataFrame, str]:
    """Bars from ``--data FILE`` or, without it, from the database; returns ``(bars, source)``.

    With a file, ``--symbols`` keeps those symbols (an unknown one is an error); ``--from``/``--to``
    belong to the database and are refused with a file rather than silently ignored. Intraday bars
    outside US regular hours are left out, with a note: the strategy trades the regular session.
    """
    wanted = split_symbols(symbols)
    if data is None:
        from tradingmodel.config import Settings
        from tradingmodel.store import load_bars_for_cli

        with working("reading bars from the database"):
            bars = load_bars_for_cli(wanted, start, end, timeframe=timeframe)
        url = Settings().database_url
        source = f"database {url.split('@')[-1]} ({timeframe}, {start or 'first'} to {end or 'last'})"
        return _regular_hours(bars, source), source
    if start is not None or end is not None:
        raise UserError("--from/--to select bars in the database; give them without --data, or cut the file")
    from tradingmodel.data import read_bars

    with working(f"reading {data}"):
        bars = read_bars(data)
    if wanted:
        unknown = sorted(set(wanted) - set(bars["symbol"]))
        if unknown:
            raise UserError(f"{data}: no bars for symbol(s) {', '.join(unknown)} "
                            f"(the file has {', '.join(sorted(bars['symbol'].unique()))})")
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
        console.print(f"[yellow]note:[/] {source}: left out {len(bars) - len(kept):,} bars outside regular hours "
                      f"({REGULAR_HOURS_TEXT})", highlight=False)
    return kept


def split_symbols(symbols: str | None) -> list[str] | None:
    """``"AAPL, msft"`` → ``["AAPL", "MSFT"]``; ``None`` stays ``None``."""
    if symbols is None:
        return None
    items = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not items:
        raise UserError("--symbols is empty")
    return items
