"""report.html: figures equal metrics.json, self-contained, charts drawn from the right data."""

from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from tradingmodel.report import charts, write_run_folder
from tradingmodel.report.tables import fmt, unit_of

CELL = re.compile(r'data-key="([^"]+)" data-value="([^"]*)">([^<]*)<')


def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: d}


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.eE+-]", "", text.replace("−", "-")))


@pytest.mark.parametrize("run", ["saved_run", pytest.param("pipeline_run", marks=pytest.mark.slow)])
def test_figures_in_the_report_equal_metrics_json(run: str, request: pytest.FixtureRequest) -> None:
    saved_run: Path = request.getfixturevalue(run)
    page = (saved_run / "report.html").read_text()
    shown = {k: (json.loads(html.unescape(v)), html.unescape(text)) for k, v, text in CELL.findall(page)}
    stored = _leaves(json.loads((saved_run / "metrics.json").read_text()))
    assert len(stored) > 40
    for key, value in stored.items():
        assert key in shown, f"{key} is in metrics.json but not in the report"
        got, text = shown[key]
        assert got == value or (isinstance(value, float) and math.isnan(value) and math.isnan(got)), key
        if isinstance(value, list) and not (value and all(isinstance(v, float) for v in value)):
            continue  # lists of text (notes, periods) are shown as they are
        values = value if isinstance(value, list) else [value]
        texts = text.strip("[]").split(", ") if isinstance(value, list) else [text]
        for v, t in zip(values, texts, strict=True):
            if isinstance(v, float) and math.isfinite(v):
                decimals = 2 if unit_of(key.split(".")[-1]) in ("pct", "usd") else None
                tol = 0.005 + 1e-9 if decimals else abs(v) * 1e-4  # text rounds to 5-6 digits
                assert abs(_number(t) - v) <= tol, (key, v, t)
    assert set(shown) == set(stored)  # nothing shown that is not stored


def test_report_is_self_contained(saved_run: Path) -> None:
    page = (saved_run / "report.html").read_text()
    assert page.count(get_plotlyjs()) == 1  # plotly.js inlined exactly once
    assert not re.search(r"<script[^>]+src=", page)
    assert "<link" not in page and "<iframe" not in page
    outside_js = page.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", outside_js)
    assert "@import" not in outside_js


def test_every_chart_is_there(saved_run: Path, inputs: dict[str, Any]) -> None:
    page = (saved_run / "report.html").read_text()
    ids = re.findall(r'<div id="(chart-[^"]+)" class="plotly-graph-div"', page)
    assert ids == [
        "chart-price-AAPL",
        "chart-price-MSFT",
        "chart-equity",
        "chart-loss",
        "chart-returns",
        "chart-calibration",
    ]
    for i in ids:
        assert page.count(f'Plotly.newPlot(                        "{i}"') == 1
    for text in (
        "Model metrics beside the baselines",
        "persistence baseline",
        "AR baseline",
        "Trading metrics",
        "Parameters",
        "sequence_length",
        "Data provenance",
        "sha256:test",
        inputs["provenance"]["start"],
    ):
        assert html.escape(text) in page, text


def test_price_chart_draws_predictions_at_the_bar_they_predict(inputs: dict[str, Any]) -> None:
    bars, preds = inputs["bars"], inputs["predictions"]
    out = charts.outcomes(preds, bars)
    a = bars[bars["symbol"] == "AAPL"].reset_index(drop=True)
    o = out[out["symbol"] == "AAPL"].reset_index(drop=True)
    assert (o["target_time"] == a["timestamp"].iloc[1 : len(o) + 1].to_numpy()).all()
    np.testing.assert_allclose(o["actual_ret"], (a["close"].shift(-1) / a["close"] - 1).iloc[: len(o)] * 100)
    figs = dict(charts.price_figures(bars, out, inputs["trades"], thresholds=("percent", 0.05, 0.04)))
    fig = figs["AAPL"]
    close, pred = fig.data[0], fig.data[1]
    assert close.name == "close" and np.max(close.y) == a["close"].max() and np.min(close.y) == a["close"].min()
    # times are New York wall-clock: the first bar is 09:30, not 14:30 (UTC)
    assert str(close.x[0]) == "2024-01-02T09:30:00" and fig.layout.xaxis2.title.text.startswith("time (New York")
    first = pd.Timestamp(pred.x[0]).tz_localize("America/New_York")
    assert first == a["timestamp"].iloc[1] and pred.y[0] == o["predicted_close"].iloc[0]
    # the predicted close is a marker, not a second line on the close, hidden until zoomed in (3 sessions here)
    assert pred.mode == "markers" and pred.visible == "legendonly"
    # the predicted move has its own panel beneath, in % of the close, with both thresholds drawn
    move = next(t for t in fig.data if t.name.startswith("predicted move (%)"))
    assert move.yaxis == "y2" and np.max(move.y) == pytest.approx(o["pred_ret"].max())
    lines = {t.name: set(t.y) for t in fig.data if "threshold" in (t.name or "")}
    assert lines == {"buy threshold +0.05%": {0.05}, "sell threshold −0.04%": {-0.04}}
    assert all(t.yaxis == "y2" for t in fig.data if "threshold" in (t.name or ""))
    # nights and the weekend are hidden: 2024-01-02 .. 01-04 have two overnight gaps
    assert [b.bounds for b in fig.layout.xaxis.rangebreaks] == [
        ("2024-01-02T16:00:00", "2024-01-03T09:30:00"),
        ("2024-01-03T16:00:00", "2024-01-04T09:30:00"),
    ]
    names = [t.name for t in fig.data]
    assert "exit" in names and {"long entry", "short entry"} & set(names)
    n_trades = (inputs["trades"]["symbol"] == "AAPL").sum()
    assert sum(len(t.x) for t in fig.data if t.name.endswith("entry")) == n_trades


def test_calibration_bins_match_a_direct_count(inputs: dict[str, Any]) -> None:
    out = charts.outcomes(inputs["predictions"], inputs["bars"])
    table = charts.calibration_table(out, bins=4)
    test = out[(out["split"] == "test") & (out["actual_ret"] != 0)]
    assert table["n"].sum() == len(test)
    hits = (np.sign(test["pred_ret"]) == np.sign(test["actual_ret"])).sum()
    assert (table["hit_rate"] * table["n"] / 100).sum() == pytest.approx(hits)
    assert (table["low"] <= table["hit_rate"]).all() and (table["hit_rate"] <= table["high"]).all()
    assert table["confidence"].is_monotonic_increasing


def test_equity_chart_drawdown(inputs: dict[str, Any]) -> None:
    fig = charts.equity_figure(inputs["equity"])
    eq = inputs["equity"]["equity"].to_numpy()
    dd = (eq / np.maximum.accumulate(eq) - 1) * 100
    assert [t.name for t in fig.data] == ["strategy equity", "buy and hold", "drawdown"]
    assert np.min(fig.data[2].y) == pytest.approx(dd.min()) and np.max(fig.data[2].y) == 0


def test_equity_chart_drawdown_counts_the_deposit_as_a_peak(tmp_path: Path) -> None:
    # equity never regains the deposit: the deposit is the peak, as in maximum_drawdown_pct
    from tradingmodel.metrics.trading import trading_metrics

    ts = pd.date_range("2024-01-02 14:30", periods=5, freq="1min", tz="UTC")
    equity = pd.DataFrame({"timestamp": ts, "equity": [9_900.0, 9_800.0, 9_850.0, 9_950.0, 9_990.0]})
    tm = trading_metrics(equity, pd.DataFrame(), 10_000.0, 98_280)
    assert tm["maximum_drawdown_pct"] == pytest.approx(2.0)
    fig = charts.equity_figure(equity, deposit=10_000.0)
    assert np.min(fig.data[-1].y) == pytest.approx(-tm["maximum_drawdown_pct"])
    run = write_run_folder("backtest", root=tmp_path, config=None, provenance={}, trading_metrics=tm, equity=equity)
    page = (run / "report.html").read_text()
    drawn = re.search(r'"name":"drawdown".*?"y":\{"dtype":"f8","bdata":"([^"]+)"', page)
    assert drawn is not None  # the page's drawdown trace, as plotly encodes it
    y = np.frombuffer(base64.b64decode(json.loads(f'"{drawn.group(1)}"')), dtype="<f8")
    assert y.min() == pytest.approx(-tm["maximum_drawdown_pct"])


@pytest.mark.parametrize(
    ("value", "key", "text"),
    [
        (52.3149, "direction_accuracy", "52.31 %"),
        (-1234.5, "total_profit", "-$1,234.50"),
        (1024, "total_trades", "1,024"),
        (0.0123456789, "mse", "0.0123457"),
        (6.5e-7, "mse_return", "6.5000e-07"),
        (math.inf, "profit_factor", "∞"),
        (math.nan, "sharpe_ratio", "n/a"),
        (None, "win_rate", "n/a"),
        ([49.0, 53.456], "direction_accuracy_ci", "[49.00 %, 53.46 %]"),
        (12.0, "exposure_pct", "12.00 %"),
    ],
)
def test_formatting_by_unit(value: Any, key: str, text: str) -> None:
    assert fmt(value, unit_of(key)) == text


@pytest.mark.slow
def test_a_year_of_minute_bars_stays_small_and_quick(tmp_path: Path, year_inputs: dict[str, Any]) -> None:
    """252 sessions x 390 bars, one symbol, with predictions, trades and equity: file < 20 MB."""
    bars, trades = year_inputs["bars"], year_inputs["trades"]
    t0 = time.perf_counter()
    d = write_run_folder("backtest", root=tmp_path, config=None, provenance={"source": "simulator"}, **year_inputs)
    seconds = time.perf_counter() - t0
    size = (d / "report.html").stat().st_size
    print(
        f"\nyear of minute bars: {len(bars):,} bars, {len(trades):,} trades, report {size / 1e6:.1f} MB, "
        f"write_run_folder {seconds:.1f} s"
    )
    assert size < 20e6
    assert seconds < 60


def test_many_trades_are_thinned_evenly_and_said_so(inputs: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    t = inputs["trades"][inputs["trades"]["symbol"] == "AAPL"].reset_index(drop=True)
    fig = go.Figure()
    shown, total = charts._add_trade_markers(fig, t, 10)
    assert (shown, total) == (10, len(t)) and total > 10
    entries = sorted(x for tr in fig.data if tr.name.endswith("entry") for x in tr.x)
    assert len(entries) == 10

    def local(ts: pd.Timestamp) -> str:
        return str(ts.tz_convert("America/New_York").tz_localize(None).isoformat())

    assert entries[0] == local(t["entry_time"].iloc[0])
    assert entries[-1] == local(t["entry_time"].iloc[-1])
    assert charts._add_trade_markers(go.Figure(), t, 10_000) == (len(t), len(t))


def test_symbols_with_the_same_slug_get_their_own_chart(tmp_path: Path) -> None:
    # "BRK.B" and "BRK/B" both slug to BRK_B: two divs with one id would draw both into the first
    ts = pd.date_range("2024-01-02 14:30", periods=10, freq="1min", tz="UTC")
    bars = pd.concat(
        [
            pd.DataFrame(
                {
                    "symbol": sym,
                    "timestamp": ts,
                    "open": 1.0,
                    "high": 1.0,
                    "low": 1.0,
                    "close": np.arange(10.0) + 100 * k,
                    "volume": 1.0,
                }
            )
            for k, sym in enumerate(["BRK.B", "BRK/B"])
        ]
    )
    run = write_run_folder("backtest", root=tmp_path, config=None, provenance={}, bars=bars)
    page = (run / "report.html").read_text()
    ids = re.findall(r'<div id="(chart-price-[^"]+)"', page)
    targets = re.findall(r'Plotly\.newPlot\(\s*"(chart-price-[^"]+)"', page)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert targets == ids


def test_scatter_axes_follow_the_predictions_range(inputs: dict[str, Any]) -> None:
    out = charts.outcomes(inputs["predictions"], inputs["bars"])
    test = out[out["split"] == "test"]
    # tiny predictions beside realised moves: the case where one square scale squashes them into a strip
    small = out.assign(pred_ret=out["pred_ret"] / 50)
    fig = charts.returns_figure(small)
    p = test["pred_ret"].to_numpy() / 50
    x0, x1 = fig.layout.xaxis.range
    assert x0 < p.min() and x1 > p.max() and (x1 - x0) < 1.2 * (p.max() - p.min())
    y0, y1 = fig.layout.yaxis.range
    lo, hi = np.quantile(test["actual_ret"], [0.01, 0.99])
    assert y0 < lo and y1 > hi and (y1 - y0) < 1.2 * (hi - lo)
    assert f"from {test['actual_ret'].min():.3f}% to {test['actual_ret'].max():.3f}%" in fig.layout.xaxis.title.text


def test_in_sample_banner_caveats_and_the_ar_baseline_beside_the_model(tmp_path: Path, inputs: dict[str, Any]) -> None:
    from tradingmodel.services.checks import attach_sample_check, sample_check_from_origin

    tm = dict(inputs["trading_metrics"])
    preds = inputs["predictions"]
    origin = {
        "model_dir": "models/m1",
        "symbols": {
            "AAPL": {"training_period": [str(preds["timestamp"].min()), str(preds["timestamp"].quantile(0.5))]}
        },
    }
    attach_sample_check(tm, sample_check_from_origin(preds, origin, "preds.csv"))
    base = dict(inputs["trading_metrics"], total_profit=-123.456, win_rate=None, total_trades=0)
    tm["ar_baseline"] = {k: v for k, v in base.items() if k != "notes"}
    run = write_run_folder(
        "backtest",
        root=tmp_path,
        config=inputs["config"],
        provenance={},
        trading_metrics=tm,
        bars=inputs["bars"],
        predictions=preds[["symbol", "timestamp", "predicted_close"]],
    )
    page = (run / "report.html").read_text()
    banner = re.search(r'<div class="banner in-sample" role="alert">([^<]+)</div>', page)
    assert banner is not None and "overlaps the training period by" in banner.group(1)
    assert "not out-of-sample evidence" in banner.group(1)
    assert page.index("banner in-sample") < page.index('id="summary"')  # above every figure
    caveat = re.search(r'<ul class="caveats"><li>([^<]+)</li>', page)
    assert caveat is not None and "is a small sample" in caveat.group(1)
    assert "<th>AR(20) baseline</th>" in page
    assert re.search(r'data-key="trading.ar_baseline.total_profit" data-value="-123.456">-\$123.46<', page)
    assert re.search(r'data-key="trading.ar_baseline.win_rate" data-value="null">n/a<', page)
    assert "<h4>Other</h4>" not in page and '"total_profit": -123.456' not in page  # no raw JSON
    # a backtest of a predictions file (no close in it) still draws the predictions
    assert '"name":"predicted move (%) at the bar it was made"' in page


def test_daily_figures_are_in_the_trading_table(saved_run: Path) -> None:
    page = (saved_run / "report.html").read_text()
    tm = json.loads((saved_run / "metrics.json").read_text())["trading"]
    for key in ("mean_daily_profit", "median_daily_profit", "best_day_profit", "worst_day_profit"):
        assert f'data-key="trading.{key}"' in page and f'data-key="trading.{key}_pct"' in page
    assert tm["sessions"] == 3
