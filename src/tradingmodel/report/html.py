"""``report.html``: one self-contained, offline file built from a run folder's files only.

Plotly's JavaScript is inlined once in ``<head>``; every chart is a ``<div>`` with a fixed id and an
inline ``Plotly.newPlot`` call, so the page needs no network. The output depends only on the folder's
contents (no "generated at now", fixed div ids, stable ordering): rebuilding gives identical bytes.
"""

from __future__ import annotations

import html
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tradingmodel.report import charts, tables, walkforward
from tradingmodel.report.downsample import DEFAULT_MAX_POINTS
from tradingmodel.report.runs import RunData, load_run

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px} header p{margin:2px 0;color:#cfd8e3;font-size:14px}
nav{padding:8px 28px;background:#e9edf2;font-size:14px} nav a{margin-right:14px;color:#1f4e79}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:18px;margin:6px 0 10px} h4{margin:14px 0 6px;font-size:14px}
p.note{color:#555;font-size:13px;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
th,td{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left;vertical-align:top}
thead th{background:#f0f3f6} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.other{color:#666} table.kv td{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde2e8;border-radius:6px;padding:8px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:600} .card .k{font-size:12px;color:#666}
.chart{margin:8px 0 16px}
.banner{margin:16px 0 0;padding:12px 18px;border-radius:6px;font-size:15px;font-weight:600}
.banner.in-sample{background:#fdecea;border:2px solid #c0392b;color:#7b1d12}
.banner.unknown{background:#fff6e0;border:2px solid #d68910;color:#6e4a06}
ul.caveats{margin:10px 0 4px;padding:8px 18px 8px 32px;background:#fff8e6;border:1px solid #f0d48a;
 border-radius:6px;font-size:13px;color:#5c4500}
"""
_SUMMARY = (
    ("trading", "total_return_pct", "Total return"),
    ("trading", "total_profit", "Total profit"),
    ("trading", "buy_and_hold_return_pct", "Buy and hold"),
    ("trading", "maximum_drawdown", "Max drawdown"),
    ("trading", "total_trades", "Trades"),
    ("trading", "win_rate", "Win rate"),
    ("trading", "sharpe_ratio", "Sharpe ratio"),
    ("model", "direction_accuracy", "Direction accuracy"),
)


def build_report(run_dir: str | Path, max_points: int = DEFAULT_MAX_POINTS) -> Path:
    """(Re)build ``run_dir/report.html`` from the folder's files; return its path.

    Deterministic: the same folder gives byte-identical HTML. The file is written to a temporary
    name and renamed, so a reader never sees half a report.
    """
    run = load_run(run_dir)
    page = render(run, max_points)
    target = Path(run_dir) / "report.html"
    tmp = target.with_name(".report.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target


def render(run: RunData, max_points: int = DEFAULT_MAX_POINTS) -> str:
    """The whole HTML page of a run, as a string."""
    out = charts.outcomes(run.predictions, run.bars)
    sections: list[tuple[str, str, str]] = []  # (anchor, title, body)

    summary = _summary(run)
    if summary:
        sections.append(("summary", "Summary", summary + _caveats(run)))

    t = run.config.trading if run.config is not None else None
    thresholds = (t.threshold_unit, t.buy_threshold, t.sell_threshold) if t is not None else None
    prices = charts.price_figures(run.bars, out, run.trades, max_points, thresholds)
    if prices:
        note = (
            "<p class='note'>Close of each bar, New York time, sessions only (nights, weekends and holidays "
            "hidden). ▲ long entry, ▼ short entry, × exit. Beneath: the predicted move of the next bar, drawn "
            "at the bar the prediction was made on, with the entry thresholds dashed; a prediction beyond a "
            "threshold is an entry signal (the RSI, volume and risk rules may still refuse it). Zoom in to "
            "about a session to see each predicted close (○) at the bar it predicts. Drag to zoom, "
            "double-click to reset.</p>"
        )
        names = _unique_slugs([sym for sym, _ in prices])
        body = note + "".join(
            _chart(fig, f"price-{name}", charts.ZOOM_SCRIPT) for (_, fig), name in zip(prices, names, strict=True)
        )
        sections.append(("prices", "Price, predictions and trades", body))

    fig = charts.equity_figure(run.equity, max_points, _deposit(run))
    if fig is not None:
        sections.append(("equity", "Equity and drawdown", _chart(fig, "equity")))

    fig = charts.loss_figure(run.history)
    if fig is not None:
        sections.append(("training", "Training", _chart(fig, "loss")))

    figs = [(charts.returns_figure(out), "returns"), (charts.calibration_figure(out), "calibration")]
    body = "".join(_chart(f, name) for f, name in figs if f is not None)
    if body:
        sections.append(("predictions", "Predictions against outcomes", body))

    if run.model_metrics:
        body = tables.model_metrics_table(run.model_metrics)
        per = tables.per_symbol_table(run.model_metrics)
        if per:
            body += "<h4>Per symbol</h4>" + per
        sections.append(("model", "Model metrics beside the baselines", body))
    if run.trading_metrics:
        sections.append(
            ("trading", "Trading metrics", tables.trading_metrics_table(run.trading_metrics, _deposit(run)))
        )
    sections += walkforward.sections(run, _chart, max_points)  # walk-forward runs only
    if run.config is not None:
        sections.append(("params", "Parameters", tables.params_table(run.config)))
    if run.provenance:
        sections.append(("data", "Data provenance", tables.dict_table(run.provenance)))
    extra = {k: v for k, v in run.extra.items() if k != "walkforward"}  # shown by its own sections
    if extra:
        sections.append(("extra", "Other", tables.dict_table(extra)))
    if prices or any(s[0] in ("equity",) for s in sections):
        sections.append(("notes", "Notes", _NOTES.format(max_points=max_points)))
    return _page(run, sections)


_NOTES = (
    "<p class='note'>Long series are downsampled for display only: each series is cut into "
    "equal-count buckets of consecutive points and each bucket keeps its minimum and maximum, so "
    "spikes keep their true height (about {max_points:,} points per series at most). The run "
    "folder's data files hold every point. Times are New York time (America/New_York); the data "
    "files store UTC.</p>"
)


def _chart(fig: go.Figure, name: str, post_script: str | None = None) -> str:
    div = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=f"chart-{name}",
        config=PLOTLY_CONFIG,
        default_height=fig.layout.height or 450,
        post_script=post_script,
    )
    return f'<div class="chart" data-chart="{html.escape(name)}">{div}</div>'


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text) or "x"


def _unique_slugs(texts: list[str]) -> list[str]:
    """Slugs for div ids, made unique (``BRK.B`` and ``BRK/B`` must not share a chart div)."""
    used: set[str] = set()
    out = []
    for text in texts:
        base = slug = _slug(text)
        k = 2
        while slug in used:
            slug, k = f"{base}-{k}", k + 1
        used.add(slug)
        out.append(slug)
    return out


def _deposit(run: RunData) -> float | None:
    tm = run.trading_metrics or {}
    if tables.is_number(tm.get("deposit")) and tm["deposit"] > 0:
        return float(tm["deposit"])
    return run.config.trading.deposit if run.config is not None else None


def _summary(run: RunData) -> str:
    cards = []
    for part, key, title in _SUMMARY:
        d = run.trading_metrics if part == "trading" else run.model_metrics
        if not d or key not in d:
            continue
        value = d[key]
        text = tables.fmt(value, tables.unit_of(key))
        if key == "maximum_drawdown" and tables.is_number(d.get("maximum_drawdown_pct")):
            text += f" ({tables.fmt(d['maximum_drawdown_pct'], 'pct')})"
        base = d.get("baseline")
        if key == "direction_accuracy" and isinstance(base, dict) and "direction_accuracy" in base:
            text += f" (baseline {tables.fmt(base['direction_accuracy'], 'pct')})"
        cards.append(
            f'<div class="card"><div class="v" data-key="{part}.{key}">{html.escape(text)}</div>'
            f'<div class="k">{html.escape(title)}</div></div>'
        )
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _warnings(run: RunData) -> str:
    """Banners above everything for figures that are not evidence: in-sample, or of unknown origin."""
    check = (run.trading_metrics or {}).get("in_sample")
    out = []
    if isinstance(check, dict) and check.get("warning"):
        cls = "unknown" if check.get("verdict") == "unknown" else "in-sample"
        out.append(f'<div class="banner {cls}" role="alert">{html.escape(str(check["warning"]))}</div>')
    for note in (run.model_metrics or {}).get("notes", []) or []:
        if "not out-of-sample" in str(note):
            out.append(f'<div class="banner in-sample" role="alert">model: {html.escape(str(note))}</div>')
    return "".join(out)


def _caveats(run: RunData) -> str:
    """The run's notes (small sample, no trade and why) right under the headline figures."""
    tm = run.trading_metrics or {}
    warning = (tm.get("in_sample") or {}).get("warning") if isinstance(tm.get("in_sample"), dict) else None
    notes = [str(n) for n in tm.get("notes", []) or [] if n != warning]
    if not notes:
        return ""
    return '<ul class="caveats">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def _header(run: RunData) -> str:
    p: dict[str, Any] = run.provenance or {}
    facts = []
    source = p.get("source") or p.get("data_source") or p.get("file") or p.get("data_file")
    if source:
        facts.append(f"data: {source}")
    symbols = p.get("symbols")
    if symbols:
        facts.append("symbols: " + (", ".join(map(str, symbols)) if isinstance(symbols, list) else str(symbols)))
    start, end = p.get("start") or p.get("time_start"), p.get("end") or p.get("time_end")
    if start or end:
        facts.append(f"from {start or '?'} to {end or '?'}")
    if p.get("timeframe"):
        facts.append(f"timeframe: {p['timeframe']}")
    lines = [
        f"<h1>tradingmodel · {html.escape(run.kind)} run</h1>",
        f"<p>{html.escape(run.run_id)} · run at {html.escape(_when(run.created_utc))}</p>",
    ]
    if facts:
        lines.append(f"<p>{html.escape(' · '.join(facts))}</p>")
    return "<header>" + "".join(lines) + "</header>"


def _when(iso: str) -> str:
    """``2026-11-24T08:15:00+00:00`` → ``2026-11-24 08:15:00 UTC``."""
    return iso.replace("T", " ").removesuffix("+00:00") + (" UTC" if iso.endswith("+00:00") else "")


def _page(run: RunData, sections: list[tuple[str, str, str]]) -> str:
    try:
        pkg_version = version("tradingmodel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        pkg_version = "unknown"
    nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{html.escape(t)}</h2>{b}</section>' for a, t, b in sections)
    if not sections:
        body = "<section><p class='note'>This run folder holds no metrics, series or parameters.</p></section>"
    title = f"tradingmodel {run.kind} run {run.run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}'
        f'</title><style>{_CSS}</style>\n<script type="text/javascript">{get_plotlyjs()}</script>\n</head>'
        f"<body>{_header(run)}<nav>{nav}</nav><main>{_warnings(run)}{body}</main>"
        f"<footer><p class='note' style='padding:0 28px 20px'>tradingmodel {html.escape(pkg_version)} · "
        f"plotly.js inlined, works offline</p></footer></body></html>\n"
    )
