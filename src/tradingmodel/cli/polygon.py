"""``tradingmodel fetch`` (Polygon history into the store) and ``tradingmodel stream`` (real-time bars)."""

from __future__ import annotations

import asyncio
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tradingmodel.cli.common import UserError, add_command, cli_time, console, out, split_symbols
from tradingmodel.cli.errors import Interrupted
from tradingmodel.cli.options import TIME_RULE
from tradingmodel.config import Settings


class Timespan(StrEnum):
    second = "second"
    minute = "minute"
    hour = "hour"
    day = "day"


class Aggregates(StrEnum):
    minute = "minute"
    second = "second"


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date like 2024-01-31, not {value!r}") from None


def _polygon_errors() -> tuple[type[Exception], ...]:
    from tradingmodel.data.polygon import PolygonError, StreamError

    return (PolygonError, StreamError)


def fetch(
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Comma-separated tickers, e.g. AAPL,MSFT.")],
    from_: Annotated[str, typer.Option("--from", help="First trading date (New York), YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last trading date (New York, inclusive), YYYY-MM-DD.")],
    timespan: Annotated[Timespan, typer.Option(help="Bar length unit.")] = Timespan.minute,
    multiplier: Annotated[int, typer.Option(min=1, help="Bar length = multiplier x timespan.")] = 1,
    rate: Annotated[
        float | None,
        typer.Option(help="Maximum requests per minute (default: no limit; paid plans allow about 100/s)."),
    ] = None,
    free_plan: Annotated[
        bool, typer.Option("--free-plan", help="Preset for Polygon's free plan: 5 requests per minute.")
    ] = False,
    unadjusted: Annotated[bool, typer.Option("--unadjusted", help="Bars not adjusted for splits.")] = False,
) -> None:
    """Download Polygon aggregates into the database; only ranges not already stored; resumable."""
    from tradingmodel.data.polygon import FREE_PLAN_REQUESTS_PER_MINUTE, FetchPolicy, fetch_history
    from tradingmodel.store import get_engine

    syms = split_symbols(symbols) or []
    start, end = _date(from_, "--from"), _date(to, "--to")
    if end < start:
        raise UserError(f"--to ({end}) is before --from ({start})")
    if rate is not None and rate <= 0:
        raise UserError("--rate must be positive")
    settings = Settings()
    if not settings.polygon_api_key:
        raise UserError(
            "no Polygon API key: set POLYGON_API_KEY in the environment or in .env "
            "(your key is on https://polygon.io/dashboard/keys)"
        )
    policy = FetchPolicy(requests_per_minute=FREE_PLAN_REQUESTS_PER_MINUTE if free_plan else rate)
    engine = get_engine(settings.database_url)
    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[bars]:>9,} bars"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(symbol: str, done_ms: int, total_ms: int, stored: int) -> None:
            if symbol not in tasks:
                tasks[symbol] = bar.add_task(symbol, total=max(total_ms, 1), bars=0)
            bar.update(tasks[symbol], completed=done_ms if total_ms else 1, bars=stored)

        try:
            reports = fetch_history(
                engine,
                syms,
                start,
                end,
                api_key=settings.polygon_api_key,
                base_url=settings.polygon_base_url,
                timespan=timespan.value,
                multiplier=multiplier,
                adjusted=not unadjusted,
                policy=policy,
                progress=progress,
            )
        except _polygon_errors() as e:
            raise UserError(str(e)) from None
    for r in reports:
        skipped = " (all already stored)" if r.missing_ms == 0 else ""
        out.print(f"{r.symbol} {r.timeframe}: {r.bars:,} bars stored, {r.requests} requests{skipped}")
        for w in r.warnings:
            console.print(f"[yellow]warning:[/] {w}")


def stream(
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Comma-separated tickers, e.g. AAPL,MSFT.")],
    aggregates: Annotated[
        Aggregates, typer.Option(help="minute (AM.*) or second (A.*) aggregates.")
    ] = Aggregates.minute,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help=f"Also back-fill bars from this time before the live ones, e.g. 2024-01-02T09:30 ({TIME_RULE})."
        ),
    ] = None,
) -> None:
    """Stream real-time aggregates, store each bar as it arrives and print one line per bar."""
    from tradingmodel.data.polygon import BarStream
    from tradingmodel.store import get_engine

    syms = split_symbols(symbols) or []
    settings = Settings()
    if not settings.polygon_api_key:
        raise UserError("no Polygon API key: set POLYGON_API_KEY in the environment or in .env")
    since_ts = cli_time(since, "--since") if since is not None else None
    engine = get_engine(settings.database_url)
    bars = BarStream(
        syms,
        api_key=settings.polygon_api_key,
        ws_url=settings.polygon_ws_url,
        rest_base_url=settings.polygon_base_url,
        aggregates=aggregates.value,
        since=since_ts,
    )
    from tradingmodel.services.recording import record_stream

    try:
        n = asyncio.run(record_stream(bars, engine, duration, on_bar=_print_bar)).bars
    except _polygon_errors() as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        raise Interrupted(f"stopped by Ctrl-C; {bars.stats.live + bars.stats.backfilled:,} bars recorded") from None
    if bars.stats.connects == 0:
        raise UserError(
            f"never connected to {settings.polygon_ws_url} in {duration:g} s "
            f"({bars.last_status or 'no reply'}); check POLYGON_WS_URL and the network; "
            "nothing was recorded"
        )
    console.print(f"{n:,} bars recorded ({bars.stats.backfilled:,} back-filled, {bars.stats.reconnects} reconnects)")


def _print_bar(b: Any) -> None:
    """One line per bar as it arrives: OHLCV, where it came from, when it arrived and its lag."""
    lag = (b.received_at.timestamp() * 1000 - b.end_ms) / 1000  # since the window closed
    rx = f"{b.received_at:%H:%M:%S.%f}"[:-3]  # milliseconds
    out.print(
        f"{b.timestamp:%Y-%m-%d %H:%M:%S}Z {b.symbol:<6} {b.timeframe} o={b.open:.4f} "
        f"h={b.high:.4f} l={b.low:.4f} c={b.close:.4f} v={b.volume:,.0f} "
        f"[{b.source}, received {rx}Z, lag {lag:.1f} s]",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``fetch`` and ``stream`` to the CLI."""
    add_command(app, "fetch", fetch)
    add_command(app, "stream", stream)
