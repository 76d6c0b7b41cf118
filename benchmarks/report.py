"""Report size and build time for a year of minute bars, beside plotly's full-resolution HTML, same run.

Usage: ``.venv/bin/python benchmarks/report.py [--symbols 2] [--days 252]``.
Prints one line per figure: ``<figure>: <value> <unit> = <ratio>x <reference>``.

The reference draws the same series (close, predicted close, equity, buy-and-hold) at full resolution
with ``plotly.io.to_html(include_plotlyjs=True)``: what a report without downsampling would weigh.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from tradingmodel.data import simulate
from tradingmodel.data.columns import TRADE_COLUMNS
from tradingmodel.report import build_report, write_run_folder

DEPOSIT = 10_000.0


def inputs(symbols: int, days: int) -> dict:
    """Bars, noisy next-close predictions, hold-5-bars trades and their equity curve."""
    bars = simulate([f"S{i:02d}" for i in range(symbols)], days, seed=1)
    rng = np.random.default_rng(2)
    preds, trades = [], []
    for sym, b in bars.groupby("symbol", sort=True):
        close = b["close"].to_numpy()
        ts = b["timestamp"]
        guess = close * (1 + rng.normal(0, 5e-4, len(close)))
        preds.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "timestamp": ts.to_numpy(),
                    "predicted_close": guess,
                    "confidence": rng.uniform(0.5, 1, len(close)),
                }
            ).iloc[:-1]
        )
        for t in range(0, len(close) - 6, 60):  # one five-bar trade an hour
            qty = math.floor(1000 / close[t])
            trades.append(
                (
                    sym,
                    "long",
                    ts.iloc[t + 1],
                    close[t],
                    ts.iloc[t + 5],
                    close[t + 5],
                    float(qty),
                    (close[t + 5] - close[t]) * qty,
                    100 * (close[t + 5] / close[t] - 1),
                    0.0,
                    "max_holding",
                )
            )
    trades_df = pd.DataFrame(
        trades,
        columns=list(TRADE_COLUMNS),
    ).sort_values("exit_time", ignore_index=True)
    times = pd.Index(sorted(bars["timestamp"].unique()))
    realised = trades_df.groupby("exit_time")["pnl"].sum().reindex(times, fill_value=0.0).cumsum().to_numpy()
    wide = bars.pivot(index="timestamp", columns="symbol", values="close").reindex(times).ffill()
    hold = (DEPOSIT * wide / wide.iloc[0]).mean(axis=1).to_numpy()
    equity = pd.DataFrame(
        {
            "timestamp": times,
            "equity": DEPOSIT + realised,
            "cash": DEPOSIT + realised,
            "gross_exposure": 0.0,
            "buy_and_hold": hold,
        }
    )
    return {"bars": bars, "predictions": pd.concat(preds, ignore_index=True), "trades": trades_df, "equity": equity}


def full_resolution_html(data: dict) -> str:
    """The reference: every point of every series, one figure per symbol plus the equity figure."""
    parts = []
    for sym, b in data["bars"].groupby("symbol", sort=True):
        p = data["predictions"][data["predictions"]["symbol"] == sym]
        fig = go.Figure(
            [
                go.Scatter(x=b["timestamp"], y=b["close"], name="close"),
                go.Scatter(x=p["timestamp"], y=p["predicted_close"], name="predicted"),
            ]
        )
        parts.append(pio.to_html(fig, include_plotlyjs=not parts, full_html=False, div_id=f"p-{sym}"))
    e = data["equity"]
    fig = go.Figure([go.Scatter(x=e["timestamp"], y=e["equity"]), go.Scatter(x=e["timestamp"], y=e["buy_and_hold"])])
    parts.append(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id="equity"))
    return "<html><body>" + "".join(parts) + "</body></html>"


def chromium_load_s(page: Path) -> float:
    """Wall time of headless Chromium opening ``page`` and taking a screenshot (after the load event,
    i.e. after the inline ``Plotly.newPlot`` calls have drawn), with a fresh profile."""
    with tempfile.TemporaryDirectory() as profile:
        t0 = time.perf_counter()
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={profile}/shot.png",
                "--window-size=1400,3000",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=2)
    ap.add_argument("--days", type=int, default=252)
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium load timing")
    args = ap.parse_args()
    data = inputs(args.symbols, args.days)
    n_bars = len(data["bars"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = write_run_folder("backtest", root=tmp, config=None, provenance={"source": "simulator"}, **data)
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_report(run)
        build_s = time.perf_counter() - t0
        size = (run / "report.html").stat().st_size
        t0 = time.perf_counter()
        ref = full_resolution_html(data)
        ref_s = time.perf_counter() - t0
        Path(tmp, "ref.html").write_text(ref)
        ref_size = Path(tmp, "ref.html").stat().st_size
        browser = shutil.which("chromium") is not None and not args.no_browser
        if browser:
            load_s, ref_load_s = chromium_load_s(run / "report.html"), chromium_load_s(Path(tmp, "ref.html"))
    tag = f"{args.symbols} symbols x {args.days} sessions = {n_bars:,} minute bars, {len(data['trades']):,} trades"
    print(
        f"report.html size ({tag}): {size / 1e6:.2f} MB = {size / ref_size:.2f}x full-resolution plotly HTML "
        f"({ref_size / 1e6:.2f} MB)"
    )
    print(
        f"build_report time ({tag}): {build_s:.2f} s = {build_s / ref_s:.2f}x full-resolution plotly to_html "
        f"({ref_s:.2f} s)"
    )
    print(
        f"write_run_folder time, data files + report ({tag}): {save_s:.2f} s = {save_s / ref_s:.2f}x full-resolution "
        f"plotly to_html ({ref_s:.2f} s)"
    )
    if browser:
        print(
            f"headless Chromium open + draw + screenshot ({tag}): {load_s:.2f} s = {load_s / ref_load_s:.2f}x "
            f"full-resolution plotly HTML ({ref_load_s:.2f} s)"
        )


if __name__ == "__main__":
    main()
