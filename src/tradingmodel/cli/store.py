"""Storage commands: ``import FILE`` (bars into the database) and ``db upgrade|downgrade|current|symbols``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradingmodel.cli.common import add_command, out, plural
from tradingmodel.cli.errors import Group

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Database URL (default: DATABASE_URL, else sqlite:///data/tradingmodel.db).")
]
TimeframeOption = Annotated[str, typer.Option("--timeframe", "-t", help="Bar length: number + s/m/h/d, e.g. 1m.")]


def _shown(url: str | None) -> str:
    from sqlalchemy.engine import make_url

    from tradingmodel.store.engine import default_url

    return make_url(url or default_url()).render_as_string(hide_password=True)


def _import(
    file: Annotated[Path, typer.Argument(help="Bar file: .csv, .csv.gz, .parquet or .pq.")],
    timeframe: TimeframeOption = "1m",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Bars per transaction.")] = 50_000,
    url: UrlOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load bars into the database idempotently: same bars change nothing, corrected bars replace old ones."""
    from tradingmodel.data import read_bar_file
    from tradingmodel.store import get_engine, ingest_bars

    bars = read_bar_file(file)
    engine = get_engine(url)
    stats = ingest_bars(engine, bars, timeframe=timeframe, batch_size=batch_size, progress=not quiet, source=str(file))
    out.print(
        f"{file}: {stats.rows:,} bars ({plural(bars['symbol'].nunique(), 'symbol')}, {timeframe}) → "
        f"{stats.inserted:,} inserted, {stats.updated:,} updated, {stats.unchanged:,} unchanged "
        f"in {stats.seconds:.2f} s ({_shown(url)})"
    )


def _upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    url: UrlOption = None,
) -> None:
    """Apply the schema migrations (creates the database when it does not exist)."""
    from tradingmodel.store import upgrade

    out.print(f"{_shown(url)}: schema at revision {upgrade(url, revision)}")


def _downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' drops every table.")],
    url: UrlOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: downgrading can drop tables and their data.")] = False,
) -> None:
    """Revert schema migrations down to REVISION."""
    from tradingmodel.store import downgrade
    from tradingmodel.store.types import StoreError

    if not yes:
        raise StoreError("downgrading can drop tables and their data: repeat with --yes to confirm")
    out.print(f"{_shown(url)}: schema at revision {downgrade(url, revision) or 'base (empty)'}")


def _current(url: UrlOption = None) -> None:
    """Show the database's schema revision and the newest one this code ships."""
    from tradingmodel.store.engine import current_revision, head_revision, open_engine

    engine = open_engine(url)
    out.print(f"{_shown(url)}: revision {current_revision(engine) or 'none (empty)'}; code head {head_revision()}")


def _symbols(url: UrlOption = None, timeframe: TimeframeOption = "1m") -> None:
    """List stored symbols with their first/last bar and bar count."""
    from tradingmodel.store import bar_coverage, get_engine, list_symbols

    engine = get_engine(url)
    symbols = list_symbols(engine, timeframe)
    if not symbols:
        out.print(f"{_shown(url)}: no {timeframe} bars stored")
    for s in symbols:
        cov = bar_coverage(engine, s, timeframe)
        if cov is not None:
            out.print(f"{s}: {cov[2]:,} bars, {cov[0].isoformat()} .. {cov[1].isoformat()}")


def register(app: typer.Typer) -> None:
    """Add ``import`` and the ``db`` group to the main app."""
    add_command(app, "import", _import)
    db = typer.Typer(cls=Group, help="Database schema and contents.", no_args_is_help=True)
    add_command(db, "upgrade", _upgrade)
    add_command(db, "downgrade", _downgrade)
    add_command(db, "current", _current)
    add_command(db, "symbols", _symbols)
    app.add_typer(db, name="db")
