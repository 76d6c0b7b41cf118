"""Data commands: ``simulate`` (synthetic bars), ``features`` (bars → feature file), ``validate-bars``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradingmodel.cli.common import UserError, add_command, out, plural, split_symbols, working


def _simulate(
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Comma-separated symbols, e.g. AAA,BBB.")],
    days: Annotated[
        int,
        typer.Option("--days", "-d", help="NYSE sessions (holidays skipped) of 390 minute bars, 210 on early closes."),
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv, .csv.gz, .parquet or .pq.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bars.")] = 7,
    signal: Annotated[float | None, typer.Option("--signal", help="Planted mean-reversion strength, 0..1.")] = None,
    null: Annotated[bool, typer.Option("--null", help="Pure random walk (no signal, no clustering).")] = False,
    start: Annotated[str, typer.Option("--start", help="First session date (New York), YYYY-MM-DD.")] = "2024-01-02",
) -> None:
    """Simulate minute bars for US regular hours and write them to a bar file."""
    from tradingmodel.data import simulate, write_bars

    if null and signal is not None:
        raise UserError("--signal and --null exclude each other")
    syms = split_symbols(symbols) or []
    with working(f"simulating {plural(len(syms), 'symbol')} × {plural(days, 'session')}"):
        bars = simulate(syms, days, seed=seed, signal=signal or 0.0, null=null, start=start)
    with working(f"writing {out_path}"):
        write_bars(bars, out_path)
    mode = "null (random walk)" if null else f"signal={signal or 0.0:g}"
    out.print(
        f"wrote {len(bars):,} bars ({plural(len(syms), 'symbol')} × {plural(days, 'session')}, seed={seed}, "
        f"{mode}) to {out_path}"
    )


def _features(
    data: Annotated[Path, typer.Option("--data", help="Bar file (.csv/.parquet) to compute features of.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv, .csv.gz, .parquet or .pq.")],
) -> None:
    """Compute close, volume, sma20, ema20, rsi14 (+ volume_sma20, ret_std20) per symbol."""
    from tradingmodel.data import read_bar_file
    from tradingmodel.data.bars import write_frame
    from tradingmodel.features import WARMUP_BARS, compute_features

    with working(f"reading {data}"):
        bars = read_bar_file(data)
    with working("computing features"):
        feats = compute_features(bars)
    with working(f"writing {out_path}"):
        write_frame(feats, out_path)
    n_sym = bars["symbol"].nunique()
    out.print(
        f"wrote features of {len(feats):,} bars ({plural(n_sym, 'symbol')}; first {WARMUP_BARS} bars of each "
        f"symbol are warm-up with NaN) to {out_path}"
    )


def _validate(
    data: Annotated[Path, typer.Option("--data", help="Bar file (.csv/.parquet) to check.")],
    no_sort: Annotated[bool, typer.Option("--no-sort", help="Treat an unsorted file as an error.")] = False,
) -> None:
    """Check a bar file and print a summary; exit code 2 with file, row and reason on the first error."""
    from tradingmodel.data import read_bar_file

    bars = read_bar_file(data, sort=not no_sort)
    if bars.empty:
        out.print(f"{data}: valid, no bars")
        return
    for sym, g in bars.groupby("symbol", sort=True):
        out.print(
            f"{sym}: {len(g):,} bars, {g['timestamp'].iloc[0].isoformat()} .. {g['timestamp'].iloc[-1].isoformat()}"
        )
    out.print(f"{data}: valid, {len(bars):,} bars")


def register(app: typer.Typer) -> None:
    """Add the data commands to the main app."""
    add_command(app, "simulate", _simulate)
    add_command(app, "features", _features)
    add_command(app, "validate-bars", _validate)
