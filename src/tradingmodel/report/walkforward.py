"""The walk-forward sections of ``report.html``: per-fold table and charts, the stitched out-of-sample
equity beside buy-and-hold and the AR(20) baseline, and the significance tests in plain words.

Built only from the run folder: ``run.json``'s ``extra.walkforward`` (what ``tradingmodel walkforward``
stores) and ``equity.parquet`` (stitched: ``equity``, ``buy_and_hold``, ``ar_equity``, ``fold``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tradingmodel.report.downsample import DEFAULT_MAX_POINTS, minmax_indices
from tradingmodel.report.runs import RunData
from tradingmodel.report.tables import fmt

Chart = Callable[[go.Figure, str], str]
_TESTS = (
    ("dm_vs_persistence", "Diebold-Mariano, squared return errors vs persistence (no move)"),
    ("dm_vs_ar", "Diebold-Mariano, squared return errors vs AR(20)"),
    ("direction", "Binomial, direction accuracy vs 50 % (one-sided)"),
    ("sharpe_bootstrap", "Block bootstrap of the stitched Sharpe ratio"),
    ("deflated_sharpe", "Deflated Sharpe ratio (configurations tried)"),
)


def _e(v: Any) -> str:
    return html.escape(str(v))


def _money(d: dict | None) -> str:
    if not d:
        return "—"
    return f"{fmt(d.get('total_return_pct'), 'pct')} ({fmt(d.get('total_profit'), 'usd')})"


def _beats(fold: dict) -> str:
    t = fold.get("tests")
    if not t:
        return "—"
    return "yes (5 %)" if t.get("beats_doing_nothing") else "no"


def fold_words(wf: dict) -> str:
    """Each fold's verdict in a sentence: does the model beat doing nothing in that test period."""
    items = "".join(f"<li>{_e(f['words'])}</li>" for f in wf.get("folds", []) if f.get("words"))
    if not items:
        return ""
    return (
        f"<ul data-words='folds'>{items}</ul><p class='note'>Per fold: Diebold-Mariano against the no-move "
        "forecast and the binomial direction test, each at 5 % and not corrected for the number of folds; the "
        "overall verdict is in the Significance section.</p>"
    )


def fold_table(wf: dict) -> str:
    """One row per fold: model beside persistence and AR(20); trading of both, in % and $ on the deposit."""
    head = (
        "fold",
        "test period (UTC)",
        "bars",
        "LSTM direction",
        "persistence",
        "AR(20)",
        "LSTM correlation",
        "LSTM trading",
        "AR(20) trading",
        "buy and hold",
        "LSTM trades",
        "beats doing nothing?",
    )
    rows = []
    for f in wf.get("folds", []):
        m, tr, ar = f["model"], f.get("trading") or {}, f.get("ar_trading") or {}
        cells = [
            f"{f['fold']}{' (partial)' if f.get('partial') else ''}",
            f"{f['test_start'][:16]} → {f['test_end'][:16]}",
            fmt(m.get("bars_scored"), "count"),
            fmt(m.get("direction_accuracy"), "pct"),
            fmt(m["baseline"].get("direction_accuracy"), "pct"),
            fmt(m["ar_baseline"].get("direction_accuracy"), "pct"),
            fmt(m.get("magnitude_correlation")),
            _money(tr),
            _money(ar),
            fmt(tr.get("buy_and_hold_return_pct"), "pct"),
            fmt(tr.get("total_trades"), "count"),
            _beats(f),
        ]
        rows.append(
            "<tr>" + "".join(f"<td{'' if i < 2 else ' class=num'}>{_e(c)}</td>" for i, c in enumerate(cells)) + "</tr>"
        )
    return (
        "<table data-table='folds'><thead><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def fold_figure(wf: dict) -> go.Figure | None:
    """Per fold: direction accuracy of the three forecasters, and the return of the two strategies."""
    folds = wf.get("folds", [])
    if not folds:
        return None
    from plotly.subplots import make_subplots

    x = [str(f["fold"]) for f in folds]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("direction accuracy (%)", "test-period return (%)"))
    for name, get in (
        ("LSTM", lambda f: f["model"].get("direction_accuracy")),
        ("persistence", lambda f: f["model"]["baseline"].get("direction_accuracy")),
        ("AR(20)", lambda f: f["model"]["ar_baseline"].get("direction_accuracy")),
    ):
        fig.add_trace(go.Bar(x=x, y=[get(f) for f in folds], name=name, legendgroup="dir"), row=1, col=1)
    for name, get in (
        ("LSTM strategy", lambda f: (f.get("trading") or {}).get("total_return_pct")),
        ("AR(20) strategy", lambda f: (f.get("ar_trading") or {}).get("total_return_pct")),
        ("buy and hold", lambda f: (f.get("trading") or {}).get("buy_and_hold_return_pct")),
    ):
        fig.add_trace(go.Bar(x=x, y=[get(f) for f in folds], name=name, legendgroup="ret"), row=1, col=2)
    fig.add_hline(y=50, line_dash="dot", line_color="#999", row=1, col=1)
    fig.update_layout(template="plotly_white", height=380, barmode="group", margin={"l": 50, "r": 20, "t": 60})
    fig.update_xaxes(title_text="fold")
    return fig


def stitched_figure(equity: pd.DataFrame | None, max_points: int = DEFAULT_MAX_POINTS) -> go.Figure | None:
    """The stitched out-of-sample equity of the LSTM strategy beside buy-and-hold and the AR(20) strategy."""
    if equity is None or equity.empty or "ar_equity" not in equity.columns:
        return None
    e = equity.sort_values("timestamp", kind="stable").reset_index(drop=True)
    fig = go.Figure()
    for col, name, style in (
        ("equity", "LSTM strategy", {}),
        ("ar_equity", "AR(20) strategy", {"dash": "dash"}),
        ("buy_and_hold", "buy and hold", {"dash": "dot", "color": "#7f7f7f"}),
    ):
        if col not in e.columns:
            continue
        idx = minmax_indices(e[col].to_numpy(np.float64), max_points)
        ts = pd.to_datetime(e["timestamp"].iloc[idx], utc=True).dt.tz_localize(None)
        fig.add_trace(
            go.Scatter(
                x=np.datetime_as_string(ts.to_numpy("datetime64[s]"), unit="s"),
                y=e[col].to_numpy(np.float64)[idx],
                name=name,
                mode="lines",
                line=style,
            )
        )
    fig.update_layout(
        template="plotly_white",
        height=440,
        title="Stitched out-of-sample equity ($)",
        margin={"l": 60, "r": 20, "t": 60},
        xaxis_title="time (UTC; test periods only, joined)",
    )
    return fig


def significance_html(wf: dict) -> str:
    """The plain-word verdicts, then one row per test with its statistic and p-value."""
    words = "".join(f"<li>{_e(w)}</li>" for w in wf.get("words", []))
    s = wf.get("significance") or {}
    rows = []
    for key, title in _TESTS:
        t = s.get(key)
        if not t:
            continue
        p = t.get("p_value", t.get("probability"))
        label = "probability" if "probability" in t else "p-value"
        rows.append(
            f"<tr><td>{_e(title)}</td><td class=num>{_e(label)} {_e(fmt(p))}</td>"
            f"<td>{_e(t.get('verdict', ''))}</td></tr>"
        )
    table = (
        "<table data-table='significance'><thead><tr><th>test</th><th>value</th><th>in words</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    note = (
        "<p class='note'>5 % level. An edge means doing better than doing nothing: smaller errors than the "
        "no-move forecast, more right directions than a coin, or a Sharpe ratio above 0. Beating AR(20) "
        "alone is not an edge (an over-fitted AR can lose to a forecast of zero).</p>"
    )
    return f"<ul data-words='walkforward'>{words}</ul>{table}{note}"


def sections(run: RunData, chart: Chart, max_points: int = DEFAULT_MAX_POINTS) -> list[tuple[str, str, str]]:
    """(anchor, title, body) of the walk-forward sections; none for other runs. ``chart`` renders a figure."""
    wf = (run.extra or {}).get("walkforward")
    if not isinstance(wf, dict):
        return []
    t = wf.get("tasks") or {}
    intro = (
        f"<p class='note'>{len(wf.get('folds', []))} folds in calendar time, shared by every symbol; each "
        f"model was trained before its test period and never saw it. Tasks: {t.get('total', 0)} in all, "
        f"{t.get('ran', 0)} run now, {t.get('skipped', 0)} finished before, {t.get('failed', 0)} failed.</p>"
    )
    body = intro + fold_table(wf) + fold_words(wf)
    fig = fold_figure(wf)
    if fig is not None:
        body += chart(fig, "wf-folds")
    if wf.get("failures"):
        body += (
            "<h4>Failed tasks</h4><ul>"
            + "".join(f"<li>fold {_e(f['fold'])} {_e(f['symbol'])}: {_e(f['error'])}</li>" for f in wf["failures"])
            + "</ul>"
        )
    out = [("walkforward", "Walk-forward folds", body)]
    fig = stitched_figure(run.equity, max_points)
    if fig is not None:
        out.append(("wf-equity", "Stitched out-of-sample equity", chart(fig, "wf-equity")))
    out.append(("significance", "Significance", significance_html(wf)))
    return out
