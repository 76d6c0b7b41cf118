"""Plotly figures of a run: price with predictions and trades, equity with drawdown, losses, returns.

Each builder takes plain DataFrames (as stored in the run folder) and returns a figure, or ``None``
when the run has nothing to draw. Long series are thinned with :func:`minmax_indices` for display.
Times are drawn in New York time (the exchange's; the axis says so), sessions only: nights, weekends
and holidays are hidden with plotly ``rangebreaks``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradingmodel.report.downsample import DEFAULT_MAX_POINTS, minmax_indices, sample_indices

NEW_YORK = "America/New_York"
TIME_AXIS = "time (New York, America/New_York)"
ZOOMED_IN_BARS = 400  # the predicted-close markers show when about a session or less is in view
ZOOMED_IN_MS = 8 * 3600 * 1000  # ... and after zooming in to 8 hours or less (see ZOOM_SCRIPT)
# Run after a price chart is drawn: show the predicted-close markers only while zoomed in.
ZOOM_SCRIPT = (
    "(function(){var gd=document.getElementById('{plot_id}');if(!gd||!gd.on)return;"
    "gd.on('plotly_relayout',function(){var ax=gd._fullLayout.xaxis;if(!ax||!ax.range)return;"
    "var on=ax.r2l(ax.range[1])-ax.r2l(ax.range[0])<=ZOOM_MS;var idx=[],vis=[];"
    "gd.data.forEach(function(t,i){if((t.name||'').indexOf('predicted close')===0){idx.push(i);"
    "vis.push(on?true:'legendonly');}});if(idx.length)Plotly.restyle(gd,{visible:vis},idx);});})();"
).replace("ZOOM_MS", str(ZOOMED_IN_MS))
# tick labels per zoom level: times within a session, dates beyond (plotly picks by tick spacing, ms)
TICK_STOPS = [
    {"dtickrange": [None, 86_400_000], "value": "%H:%M<br>%a %b %d"},
    {"dtickrange": [86_400_000, 604_800_000], "value": "%a %b %d"},
    {"dtickrange": [604_800_000, None], "value": "%b %d<br>%Y"},
]

TEMPLATE = "plotly_white"
MAX_SCATTER_POINTS = 5000
MAX_TRADES_MARKED = 40_000  # trades marked (entry + exit) over all symbols; beyond it evenly spaced ones
MAX_BREAKS = 600  # session gaps hidden on a time axis at most (two years of sessions)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _local(ts: pd.Series | np.ndarray) -> np.ndarray:
    """New York wall-clock times (naive ``datetime64[s]``) of UTC timestamps."""
    s = pd.to_datetime(pd.Series(ts), utc=True)
    return s.dt.tz_convert(NEW_YORK).dt.tz_localize(None).to_numpy("datetime64[s]")


def _times(ts: pd.Series) -> np.ndarray:
    """New York times as compact ISO strings (plotly.js has no time zones; the axes name the zone)."""
    return np.datetime_as_string(_local(ts), unit="s")


def time_axis(fig: go.Figure, ts: pd.Series | None, **where: int) -> None:
    """The shared look of a time axis: zone named, readable ticks per zoom level, sessions only."""
    fig.update_xaxes(tickformatstops=TICK_STOPS, **where)
    if ts is not None:
        fig.update_xaxes(rangebreaks=gap_breaks(ts))


def _thin(ts: pd.Series, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    idx = minmax_indices(values, max_points)
    return _times(ts.iloc[idx]), np.asarray(values, dtype=np.float64)[idx]


def gap_breaks(ts: pd.Series, max_breaks: int = MAX_BREAKS) -> list[dict]:
    """Plotly ``rangebreaks`` hiding the gaps between sessions (nights, weekends, holidays).

    A gap is a step more than 5x the median bar interval; it is hidden from one interval after the
    last bar to the next bar's start. No breaks for a gap-free series or beyond ``max_breaks``
    (each break costs the browser time when zooming).
    """
    t = np.unique(_local(ts))  # the chart's own (New York) times
    if len(t) < 3:
        return []
    step = np.diff(t)
    d = np.median(step)
    where = np.flatnonzero(step > 5 * d)
    if len(where) == 0 or len(where) > max_breaks:
        return []
    lo = np.datetime_as_string(t[where] + d, unit="s")
    hi = np.datetime_as_string(t[where + 1], unit="s")
    return [{"bounds": [str(a), str(b)]} for a, b in zip(lo, hi, strict=True)]


def _layout(fig: go.Figure, title: str, height: int = 460, **kw: object) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "y": 0.98, "yanchor": "top"},
        height=height,
        margin={"l": 60, "r": 20, "t": 75, "b": 40},
        hovermode="closest",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        **kw,
    )
    return fig


def outcomes(predictions: pd.DataFrame | None, bars: pd.DataFrame | None) -> pd.DataFrame | None:
    """Each prediction beside what happened: close at t, predicted and actual close of t+1.

    Columns ``symbol, timestamp, target_time, close, predicted_close, next_close, pred_ret, actual_ret``
    (returns in %) plus ``confidence``/``split`` when present. ``close``/``next_close`` come from the
    predictions when they carry them, else from the bars; ``target_time`` is bar t+1's start.
    """
    if predictions is None or predictions.empty:
        return None
    p = predictions.sort_values(["symbol", "timestamp"], kind="stable").reset_index(drop=True)
    if bars is not None and not bars.empty:
        b = bars[["symbol", "timestamp", "close"]].sort_values(["symbol", "timestamp"], kind="stable")
        b = b.assign(
            target_time=b.groupby("symbol")["timestamp"].shift(-1),
            bar_next_close=b.groupby("symbol")["close"].shift(-1),
        ).rename(columns={"close": "bar_close"})
        p = p.merge(b, on=["symbol", "timestamp"], how="left")
        if "close" not in p.columns:
            p["close"] = p["bar_close"]
        if "next_close" not in p.columns:
            p["next_close"] = p["bar_next_close"]
    else:
        p["target_time"] = p.groupby("symbol")["timestamp"].shift(-1)
        if "close" not in p.columns:
            return p.assign(pred_ret=np.nan, actual_ret=np.nan, close=np.nan, next_close=np.nan)
        if "next_close" not in p.columns:
            p["next_close"] = p.groupby("symbol")["close"].shift(-1)
    p["pred_ret"] = (p["predicted_close"] / p["close"] - 1.0) * 100.0
    p["actual_ret"] = (p["next_close"] / p["close"] - 1.0) * 100.0
    keep = [
        "symbol",
        "timestamp",
        "target_time",
        "close",
        "predicted_close",
        "next_close",
        "pred_ret",
        "actual_ret",
    ] + [c for c in ("confidence", "split") if c in p.columns]
    return p[keep]


def _ret_std(bars: pd.DataFrame | None) -> pd.DataFrame | None:
    """``symbol, timestamp, ret_std20`` from the bars (the strategy's sigma unit, same definition)."""
    if bars is None or bars.empty:
        return None
    from tradingmodel.features.batch import RET_STD_PERIOD, rolling_pstd

    parts = []
    for sym, b in bars.sort_values(["symbol", "timestamp"], kind="stable").groupby("symbol", sort=True):
        c = b["close"].to_numpy(np.float64)
        sd = np.full(c.size, np.nan)
        if c.size > 1:
            sd[1:] = rolling_pstd(c[1:] / c[:-1] - 1.0, RET_STD_PERIOD)
        parts.append(pd.DataFrame({"symbol": sym, "timestamp": b["timestamp"].to_numpy(), "ret_std20": sd}))
    return pd.concat(parts, ignore_index=True)


def predicted_moves(out: pd.DataFrame | None, bars: pd.DataFrame | None, unit: str) -> pd.DataFrame | None:
    """``symbol, timestamp, move``: each prediction's move from the close of the bar it was made on, in %
    or, with ``unit="sigma"``, in multiples of that bar's ``ret_std20`` (what the entry thresholds use)."""
    if out is None or out.empty:
        return None
    o = out[["symbol", "timestamp", "pred_ret"]].dropna()
    if unit == "sigma":
        sd = _ret_std(bars)
        if sd is None:
            return None
        o = o.merge(sd, on=["symbol", "timestamp"], how="left")
        return o.assign(move=o["pred_ret"] / 100.0 / o["ret_std20"])[["symbol", "timestamp", "move"]]
    return o.rename(columns={"pred_ret": "move"})


def price_figures(
    bars: pd.DataFrame | None,
    out: pd.DataFrame | None,
    trades: pd.DataFrame | None,
    max_points: int = DEFAULT_MAX_POINTS,
    thresholds: tuple[str, float, float] | None = None,
) -> list[tuple[str, go.Figure]]:
    """One zoomable figure per symbol: close and trades above; the predicted move beneath, in its own
    panel with the entry thresholds drawn (``thresholds`` = (unit, buy, sell) of the run's config); the
    predicted close as a distinct marker at the bar it predicts, shown when zoomed in to about a session."""
    symbols: set[str] = set()
    for df in (bars, out, trades):
        if df is not None and not df.empty:
            symbols.update(str(v) for v in df["symbol"].unique())
    unit = thresholds[0] if thresholds else "percent"
    moves = predicted_moves(out, bars, unit)
    figures = []
    # budget: max_points per series for up to two symbols, then ~2 x max_points shared (>= 500 each)
    per_symbol = max_points if len(symbols) <= 2 else max(500, 2 * max_points // len(symbols))
    trades_per_symbol = max(2000, MAX_TRADES_MARKED // max(1, len(symbols)))
    for sym in sorted(symbols):
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.05)
        times = None
        if bars is not None and not bars.empty:
            b = bars[bars["symbol"] == sym]
            if len(b):
                times = b["timestamp"]
                x, y = _thin(b["timestamp"], b["close"].to_numpy(), per_symbol)
                fig.add_trace(
                    go.Scatter(x=x, y=y, name="close", mode="lines", line={"color": "#444", "width": 1.2}), row=1, col=1
                )
        elif out is not None and out["close"].notna().any():
            o = out[(out["symbol"] == sym) & out["close"].notna()]
            times = o["timestamp"]
            x, y = _thin(o["timestamp"], o["close"].to_numpy(), per_symbol)
            fig.add_trace(
                go.Scatter(x=x, y=y, name="close", mode="lines", line={"color": "#444", "width": 1.2}), row=1, col=1
            )
        if out is not None:
            o = out[(out["symbol"] == sym) & out["target_time"].notna()]
            if len(o):
                idx = sample_indices(len(o), per_symbol)
                shown = "legendonly" if len(times if times is not None else o) > ZOOMED_IN_BARS else True
                fig.add_trace(
                    go.Scatter(
                        x=_times(o["target_time"].iloc[idx]),
                        y=o["predicted_close"].to_numpy(np.float64)[idx],
                        name="predicted close (at the bar predicted)",
                        mode="markers",
                        visible=shown,
                        marker={"symbol": "circle-open", "size": 6, "color": COLORS[1], "line": {"width": 1.5}},
                    ),
                    row=1,
                    col=1,
                )
        title = f"{sym}: close and trades, predicted move beneath"
        if trades is not None and not trades.empty:
            shown_n, total = _add_trade_markers(fig, trades[trades["symbol"] == sym], trades_per_symbol)
            if shown_n < total:
                title += f" ({shown_n:,} of {total:,} trades marked, evenly spaced)"
        label = "predicted move (σ)" if unit == "sigma" else "predicted move (%)"
        if moves is not None:
            m = moves[(moves["symbol"] == sym) & np.isfinite(moves["move"])]
            if len(m):
                x, y = _thin(m["timestamp"], m["move"].to_numpy(np.float64), per_symbol)
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        name=label + " at the bar it was made",
                        mode="lines",
                        line={"color": COLORS[1], "width": 1},
                    ),
                    row=2,
                    col=1,
                )
                if thresholds:
                    _threshold_lines(fig, x, thresholds)
        if not fig.data:
            continue
        _layout(fig, title, height=620)
        fig.update_yaxes(title_text="price ($)", row=1, col=1)
        fig.update_yaxes(title_text=label, row=2, col=1, zeroline=True, zerolinecolor="#bbb")
        fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
        time_axis(fig, times)
        figures.append((sym, fig))
    return figures


def _threshold_lines(fig: go.Figure, x: np.ndarray, thresholds: tuple[str, float, float]) -> None:
    """The long and short entry thresholds across the predicted-move panel."""
    unit, buy, sell = thresholds
    sign = "σ" if unit == "sigma" else "%"
    for name, level, color in (
        (f"buy threshold +{buy:g}{sign}", buy, "#2ca02c"),
        (f"sell threshold −{sell:g}{sign}", -sell, "#d62728"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[x[0], x[-1]],
                y=[level, level],
                mode="lines",
                name=name,
                line={"color": color, "dash": "dash", "width": 1},
            ),
            row=2,
            col=1,
        )


def _add_trade_markers(fig: go.Figure, t: pd.DataFrame, max_trades: int) -> tuple[int, int]:
    """Entry (▲ long, ▼ short) and exit (×) markers; returns (trades marked, trades)."""
    total = len(t)
    if total == 0:
        return 0, 0
    if total > max_trades:
        t = t.iloc[np.unique(np.linspace(0, total - 1, max_trades).round().astype(np.int64))]
    side = t["side"].str.lower()
    for label, mask, symbol, color in (
        ("long entry", side.isin(("long", "buy")), "triangle-up", "#2ca02c"),
        ("short entry", ~side.isin(("long", "buy")), "triangle-down", "#d62728"),
    ):
        e = t[mask]
        if len(e):
            fig.add_trace(
                go.Scatter(
                    x=_times(e["entry_time"]),
                    y=e["entry_price"].to_numpy(np.float64),
                    mode="markers",
                    name=label,
                    marker={"symbol": symbol, "size": 9, "color": color, "line": {"width": 0.5, "color": "#000"}},
                )
            )
    x = t[t["exit_time"].notna()]
    if len(x):
        text = x["exit_reason"].fillna("").astype(str).to_numpy() if "exit_reason" in x.columns else None
        fig.add_trace(
            go.Scatter(
                x=_times(x["exit_time"]),
                y=x["exit_price"].to_numpy(np.float64),
                mode="markers",
                name="exit",
                text=text,
                marker={"symbol": "x", "size": 8, "color": "#000"},
            )
        )
    return len(t), total


def equity_figure(
    equity: pd.DataFrame | None, max_points: int = DEFAULT_MAX_POINTS, deposit: float | None = None
) -> go.Figure | None:
    """Equity and buy-and-hold in $ above, drawdown of the equity in % beneath (shared time axis).

    The drawdown is measured from the running peak with the ``deposit`` counted as the first peak, as in
    ``tradingmodel.metrics.trading`` (so a fall on the first bar shows, and the chart's deepest point
    equals ``maximum_drawdown_pct``).
    """
    if equity is None or equity.empty:
        return None
    e = equity.sort_values("timestamp", kind="stable")
    eq = e["equity"].to_numpy(np.float64)
    start = deposit if deposit is not None and math.isfinite(deposit) and deposit > 0 else np.nan
    peak = np.fmax.accumulate(np.concatenate(([start], eq)))[1:]
    drawdown = (eq / peak - 1.0) * 100.0
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    x, y = _thin(e["timestamp"], eq, max_points)
    fig.add_trace(go.Scatter(x=x, y=y, name="strategy equity", mode="lines", line={"color": COLORS[0]}), row=1, col=1)
    if "buy_and_hold" in e.columns and e["buy_and_hold"].notna().any():
        x, y = _thin(e["timestamp"], e["buy_and_hold"].to_numpy(np.float64), max_points)
        fig.add_trace(
            go.Scatter(x=x, y=y, name="buy and hold", mode="lines", line={"color": "#7f7f7f", "dash": "dot"}),
            row=1,
            col=1,
        )
    x, y = _thin(e["timestamp"], drawdown, max_points)
    fig.add_trace(
        go.Scatter(x=x, y=y, name="drawdown", mode="lines", fill="tozeroy", line={"color": COLORS[3], "width": 1}),
        row=2,
        col=1,
    )
    _layout(fig, "Equity beside buy-and-hold, drawdown beneath", height=560)
    fig.update_yaxes(title_text="equity ($)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown (%)", row=2, col=1)
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    time_axis(fig, e["timestamp"])
    return fig


def loss_figure(history: dict[str, list[dict]] | None) -> go.Figure | None:
    """Training (solid) and validation (dashed) loss per epoch, one colour per symbol / pooled model."""
    if not history or not any(history.values()):
        return None
    fig = go.Figure()
    values: list[float] = []
    for i, (key, records) in enumerate(sorted(history.items())):
        if not records:
            continue
        color = COLORS[i % len(COLORS)]
        epochs = np.array([r["epoch"] for r in records], dtype=np.float64)
        for col, dash in (("train_loss", "solid"), ("val_loss", "dash")):
            y = np.array([np.nan if r.get(col) is None else r[col] for r in records], dtype=np.float64)
            values.extend(y[np.isfinite(y)].tolist())
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=y,
                    mode="lines+markers",
                    name=f"{key} {col.split('_')[0]}",
                    line={"color": color, "dash": dash},
                    marker={"size": 5},
                )
            )
    epochs_max = max((len(r) for r in history.values()), default=0)
    positive = [v for v in values if v > 0]
    log = len(positive) == len(values) and values and max(values) / min(values) > 20
    _layout(
        fig,
        "Training and validation loss per epoch",
        height=420,
        xaxis_title="epoch",
        yaxis_title="loss" + (" (log scale)" if log else ""),
        yaxis_type="log" if log else "linear",
    )
    if epochs_max <= 30:
        fig.update_xaxes(dtick=1)  # whole epochs only
    return fig


def _scored(out: pd.DataFrame | None) -> tuple[pd.DataFrame, str] | None:
    """Predictions with a known outcome; the test part only when the predictions are split."""
    if out is None:
        return None
    o = out[np.isfinite(out["pred_ret"]) & np.isfinite(out["actual_ret"])]
    part = "all predictions"
    if "split" in o.columns and (o["split"] == "test").any():
        o, part = o[o["split"] == "test"], "test part"
    return (o, part) if len(o) else None


def _span(values: np.ndarray, pad: float = 0.08) -> list[float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    width = (hi - lo) or max(abs(hi), 1e-6)
    return [lo - pad * width, hi + pad * width]


def returns_figure(out: pd.DataFrame | None) -> go.Figure | None:
    """Predicted vs actual one-bar return (%), with the line where they are equal.

    The x axis spans the predictions' range, the y axis the middle 98% of the actual returns (their full
    range is in the title): predictions are far smaller than realised moves, and one square scale for
    both squashes the predictions into a vertical strip.
    """
    scored = _scored(out)
    if scored is None:
        return None
    o, part = scored
    idx = sample_indices(len(o), MAX_SCATTER_POINTS)
    s = o.iloc[idx]
    px, ay = s["pred_ret"].to_numpy(np.float64), s["actual_ret"].to_numpy(np.float64)
    fig = go.Figure(
        go.Scatter(x=px, y=ay, mode="markers", name="bar", marker={"size": 4, "opacity": 0.45, "color": COLORS[0]})
    )
    xr = _span(px)
    all_actual = o["actual_ret"].to_numpy(np.float64)
    yr = _span(np.quantile(all_actual, [0.01, 0.99]), 0.05)
    outside = int(((all_actual < yr[0]) | (all_actual > yr[1])).sum())
    lim = [max(xr[0], yr[0]), min(xr[1], yr[1])]
    if lim[0] < lim[1]:
        fig.add_trace(
            go.Scatter(x=lim, y=lim, mode="lines", name="actual = predicted", line={"color": "#7f7f7f", "dash": "dot"})
        )
    shown = f"{len(s):,} of {len(o):,} sampled" if len(s) < len(o) else f"{len(o):,}"
    note = (
        f"predicted return (%), over the predictions' range<br>actual returns range from {all_actual.min():.3f}% "
        f"to {all_actual.max():.3f}%; the y axis shows their middle 98% ({outside:,} bars outside the view)"
    )
    _layout(
        fig,
        f"Predicted vs actual next-bar return, {part} ({shown} bars)",
        height=480,
        xaxis_title=note,
        yaxis_title="actual return (%)",
    )
    fig.update_layout(margin={"b": 80})
    fig.update_xaxes(zeroline=True, zerolinecolor="#bbb", range=xr)
    fig.update_yaxes(zeroline=True, zerolinecolor="#bbb", range=yr)
    return fig


def calibration_table(out: pd.DataFrame | None, bins: int = 10) -> pd.DataFrame | None:
    """Direction hit rate per confidence bin (quantile bins), with a 95% Wilson interval.

    A hit is ``sign(predicted return) == sign(actual return)``; bars whose close did not move are left
    out. Columns ``confidence, hit_rate, low, high, n`` (rates in %).
    """
    scored = _scored(out)
    if scored is None or "confidence" not in scored[0].columns:
        return None
    o = scored[0]
    o = o[np.isfinite(o["confidence"].to_numpy(np.float64)) & (o["actual_ret"] != 0)]
    if len(o) < 2:
        return None
    conf = o["confidence"].to_numpy(np.float64)
    hit = (np.sign(o["pred_ret"].to_numpy()) == np.sign(o["actual_ret"].to_numpy())).astype(np.float64)
    edges = np.unique(np.quantile(conf, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, max(0, len(edges) - 2))
    rows = []
    for k in np.unique(which):
        m = which == k
        n = int(m.sum())
        p = float(hit[m].mean())
        z = 1.959964
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        rows.append((float(conf[m].mean()), 100 * p, 100 * (centre - half), 100 * (centre + half), n))
    return pd.DataFrame(rows, columns=["confidence", "hit_rate", "low", "high", "n"])


def calibration_figure(out: pd.DataFrame | None) -> go.Figure | None:
    """Hit rate per confidence bin; the diagonal when confidence is a probability in [0, 1]."""
    table = calibration_table(out)
    if table is None:
        return None
    as_prob = bool(out["confidence"].dropna().between(0, 1).all())
    x = table["confidence"].to_numpy() * (100 if as_prob else 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(x=x, y=table["n"].to_numpy(np.float64), name="bars in bin", marker={"color": "#c7d7ea"}, opacity=0.6),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=table["hit_rate"].to_numpy(),
            mode="lines+markers",
            name="direction hit rate",
            line={"color": COLORS[0]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (table["high"] - table["hit_rate"]).to_numpy(),
                "arrayminus": (table["hit_rate"] - table["low"]).to_numpy(),
            },
        ),
        secondary_y=False,
    )
    if as_prob:
        lo, hi = float(min(x.min(), 50.0)), float(max(x.max(), 50.0))
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                name="hit rate = confidence",
                line={"color": "#7f7f7f", "dash": "dot"},
            ),
            secondary_y=False,
        )
    _layout(
        fig,
        "Calibration: direction hit rate per confidence bin (95% interval)",
        height=420,
        xaxis_title="mean confidence in bin" + (" (%)" if as_prob else ""),
    )
    fig.update_yaxes(title_text="hit rate (%)", secondary_y=False)
    fig.update_yaxes(
        title_text="bars", secondary_y=True, showgrid=False, range=[0, 3 * float(table["n"].max())]
    )  # counts stay low, behind the rates
    return fig
