"""HTML tables of a run's metrics and parameters, with units read from the metric names.

Every metric cell carries ``data-key`` (its path in ``metrics.json``, e.g. ``trading.total_profit``)
and ``data-value`` (the stored value, JSON), so the figures shown can be checked against the file.

Units by name (matching ``tradingmodel.metrics``): keys ending ``_pct``/``_percent`` and the
accuracies and rates in :data:`PERCENT_KEYS` are percent; :data:`MONEY_KEYS` and keys ending in
:data:`MONEY_SUFFIXES` are dollars (also shown as % of the deposit); counts are integers; anything
else is a plain number.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from typing import Any

from tradingmodel.config import AppConfig

PERCENT_KEYS = frozenset(
    {"direction_accuracy", "direction_accuracy_ci", "win_rate", "timing_accuracy", "timing_precision"}
)
MONEY_KEYS = frozenset(
    {
        "total_profit",
        "average_profit_per_trade",
        "costs_paid",
        "deposit",
        "final_equity",
        "gross_profit",
        "gross_loss",
        "largest_win",
        "largest_loss",
        "average_win",
        "average_loss",
        "net_profit",
        "commission",
        "slippage",
        "buy_and_hold_profit",
        "mean_daily_profit",
        "median_daily_profit",
        "best_day_profit",
        "worst_day_profit",
    }
)
MONEY_SUFFIXES = ("_usd", "_dollars", "_paid", "maximum_drawdown", "max_drawdown")
COUNT_KEYS = frozenset(
    {"total_trades", "n_bars", "n_trades", "n_symbols", "bars", "bars_scored", "reversals", "sessions", "predictions"}
)
COUNT_SUFFIXES = ("_count", "_trades", "_bars")
DOLLAR_OF_PCT = frozenset({"total_return_pct", "buy_and_hold_return_pct"})  # shown in $ on the deposit too
MODEL_ORDER = (
    "direction_accuracy",
    "direction_accuracy_ci",
    "magnitude_correlation",
    "timing_accuracy",
    "timing_precision",
    "mse",
    "mae",
    "mse_return",
    "mae_return",
    "confidence_mean",
    "confidence_brier",
    "bars_scored",
    "direction_bars",
    "zero_move_bars",
    "reversals",
    "n_bars",
)
WIDE_KEYS = (
    "direction_accuracy",
    "direction_accuracy_ci",
    "magnitude_correlation",
    "timing_accuracy",
    "mse",
    "mae",
    "mse_return",
    "mae_return",
    "bars_scored",
    "n_bars",
)
BASELINES = (("baseline", "persistence baseline"), ("ar_baseline", "AR baseline"))


def unit_of(key: str) -> str:
    """``"pct"``, ``"usd"``, ``"count"`` or ``"num"`` for a metric name."""
    k = key.lower()
    if k in PERCENT_KEYS or k.endswith(("_pct", "_percent")):
        return "pct"
    if k in MONEY_KEYS or k.endswith(MONEY_SUFFIXES):
        return "usd"
    if k in COUNT_KEYS or k.startswith("n_") or k.endswith(COUNT_SUFFIXES):
        return "count"
    return "num"


def is_number(v: Any) -> bool:
    """A real number (int or float, bools excluded)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt(value: Any, unit: str = "num") -> str:
    """Human text for a value in a unit: ``52.31 %``, ``-$1,234.50``, ``1,024``, ``0.0123457``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, unit) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if not is_number(value):
        return str(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if unit == "pct":
        return f"{value:,.2f} %"
    if unit == "usd":
        return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    if unit == "count" and float(value).is_integer():
        return f"{int(value):,}"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4e}"
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"


LABELS = {
    "mse": "MSE (price)",
    "mae": "MAE (price)",
    "mse_return": "MSE (return)",
    "mae_return": "MAE (return)",
    "direction_accuracy_ci": "Direction accuracy, 95% interval",
    "n_bars": "Bars scored",
    "magnitude_correlation": "Magnitude correlation",
    # its % is the mean return of a trade on its own notional, not a share of the deposit
    "average_profit_per_trade": "Average profit per trade ($ / mean trade return %)",
}


def label(key: str) -> str:
    """``average_profit_per_trade`` → ``Average profit per trade`` (a few abbreviations spelled out)."""
    if key in LABELS:
        return LABELS[key]
    text = key.removesuffix("_pct").replace("_", " ").strip()
    return (text[:1].upper() + text[1:]) or key


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _cell(path: str, value: Any, unit: str, cls: str = "num") -> str:
    data = json.dumps(value, allow_nan=True, sort_keys=True)
    return f'<td class="{cls}" data-key="{_esc(path)}" data-value="{_esc(data)}">{_esc(fmt(value, unit))}</td>'


def _table(head: Iterable[str], rows: Iterable[str], cls: str = "") -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _ordered_keys(dicts: Iterable[dict], order: tuple[str, ...] = ()) -> list[str]:
    keys: list[str] = [k for k in order if any(k in d for d in dicts)]
    for d in dicts:
        keys.extend(k for k, v in d.items() if k not in keys and not isinstance(v, dict))
    return keys


def model_metrics_table(mm: dict[str, Any], path: str = "model") -> str:
    """Model metrics with the persistence and AR baselines in columns beside them."""
    cols = [("model", "", mm)] + [
        (title, key + ".", mm[key]) for key, title in BASELINES if isinstance(mm.get(key), dict)
    ]
    keys = _ordered_keys([c[2] for c in cols], MODEL_ORDER)
    rows = []
    for k in keys:
        cells = "".join(
            _cell(f"{path}.{prefix}{k}", d[k], unit_of(k)) if k in d else "<td>—</td>" for _, prefix, d in cols
        )
        rows.append(f'<tr title="{_esc(k)}"><th>{_esc(label(k))}</th>{cells}</tr>')
    other = {k: v for k, v in mm.items() if isinstance(v, dict) and k not in dict(BASELINES) and k != "per_symbol"}
    extra = "".join(f"<h4>{_esc(label(k))}</h4>" + _kv_table(f"{path}.{k}", v) for k, v in sorted(other.items()))
    return _table(["metric"] + [c[0] for c in cols], rows, "metrics") + extra


def per_symbol_table(mm: dict[str, Any]) -> str:
    """``per_symbol`` of the model metrics: an overview row per symbol, then each symbol's full table
    (model beside its baselines) in a collapsible block."""
    per = mm.get("per_symbol")
    if not isinstance(per, dict) or not per:
        return ""
    symbols = sorted(s for s, d in per.items() if isinstance(d, dict))
    keys = [k for k in WIDE_KEYS if any(k in per[s] for s in symbols)]
    rows = []
    for sym in symbols:
        d = per[sym]
        cells = "".join(
            _cell(f"model.per_symbol.{sym}.{k}", d[k], unit_of(k)) if k in d else "<td>—</td>" for k in keys
        )
        rows.append(f"<tr><th>{_esc(sym)}</th>{cells}</tr>")
    blocks = "".join(
        f"<details><summary>{_esc(sym)}: model beside the baselines</summary>"
        f"{model_metrics_table(per[sym], f'model.per_symbol.{sym}')}</details>"
        for sym in symbols
    )
    return _table(["symbol"] + [label(k) for k in keys], rows, "metrics wide") + blocks


TRADING_ASIDE = ("notes", "in_sample", "ar_baseline")  # shown beside the table, not as rows of it


def _trading_cells(tm: dict[str, Any], k: str, path: str, deposit: float | None, paired: set[str]) -> str:
    """The value cell and its "in % / $" cell of one trading figure."""
    if k not in tm:
        return "<td>—</td><td></td>"
    v, unit = tm[k], unit_of(k)
    if f"{k}_pct" in paired:
        other = _cell(f"{path}.{k}_pct", tm.get(f"{k}_pct"), "pct", "num other") if f"{k}_pct" in tm else "<td></td>"
    else:
        text = ""
        if deposit and is_number(v) and math.isfinite(v):
            if unit == "usd" and k != "deposit":
                text = fmt(100.0 * v / deposit, "pct") + " of deposit"
            elif k in DOLLAR_OF_PCT:
                text = fmt(v / 100.0 * deposit, "usd")
        other = f'<td class="num other">{_esc(text)}</td>'
    return _cell(f"{path}.{k}", v, unit) + other


def trading_metrics_table(tm: dict[str, Any], deposit: float | None) -> str:
    """Trading metrics, one row per figure: ``X`` in $ beside ``X_pct`` when the run gives both, else
    dollar figures also as % of the deposit and the total / buy-and-hold returns also in $. With an
    ``ar_baseline`` (the same strategy trading the AR(20) baseline's predictions) its figures stand in
    two more columns, formatted the same way; the notes and the in-sample check follow the table."""
    base = tm.get("ar_baseline") if isinstance(tm.get("ar_baseline"), dict) else None
    paired = {f"{k}_pct" for k, v in tm.items() if unit_of(k) == "usd" and f"{k}_pct" in tm}
    rows = []
    for k, v in tm.items():
        if isinstance(v, dict) or k in paired or k in TRADING_ASIDE:
            continue
        cells = _trading_cells(tm, k, "trading", deposit, paired)
        if base is not None:
            cells += _trading_cells(base, k, "trading.ar_baseline", deposit, paired)
        rows.append(f'<tr title="{_esc(k)}"><th>{_esc(label(k))}</th>{cells}</tr>')
    head = ["metric", "model", "in % / $"] + (["AR(20) baseline", "in % / $"] if base is not None else [])
    nested = "".join(
        f"<h4>{_esc(label(k))}</h4>" + _kv_table(f"trading.{k}", v)
        for k, v in tm.items()
        if isinstance(v, dict) and k not in TRADING_ASIDE
    )
    if base is not None:
        nested += "".join(
            f"<h4>AR(20) baseline: {_esc(label(k)).lower()}</h4>" + _kv_table(f"trading.ar_baseline.{k}", v)
            for k, v in base.items()
            if isinstance(v, dict)
        )
        extra = {k: v for k, v in base.items() if not isinstance(v, dict) and k not in tm}
        if extra:
            nested += "<h4>AR(20) baseline: other</h4>" + _kv_table("trading.ar_baseline", extra)
    if isinstance(tm.get("in_sample"), dict):
        nested += "<h4>In-sample check</h4>" + _kv_table("trading.in_sample", tm["in_sample"])
    if "notes" in tm:
        nested += "<h4>Notes</h4>" + _kv_table("trading", {"notes": tm["notes"]})
    return _table(head, rows, "metrics") + nested


def _kv_table(prefix: str, d: dict[str, Any]) -> str:
    rows = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            rows.append(f"<tr><th>{_esc(label(k))}</th><td>{_kv_table(f'{prefix}.{k}', v)}</td></tr>")
        elif isinstance(v, dict):
            rows.append(f"<tr><th>{_esc(label(k))}</th><td>{_esc(fmt(v))}</td></tr>")
        else:
            rows.append(f'<tr title="{_esc(k)}"><th>{_esc(label(k))}</th>{_cell(f"{prefix}.{k}", v, unit_of(k))}</tr>')
    return _table(["metric", "value"], rows, "metrics")


def params_table(config: AppConfig) -> str:
    """Every model and trading parameter of the run, with its description (units included)."""
    rows = []
    for section in ("model", "trading"):
        part = getattr(config, section)
        for key, info in type(part).model_fields.items():
            value = getattr(part, key)
            rows.append(
                f'<tr><td>[{section}]</td><th>{_esc(key)}</th><td class="num">{_esc(fmt(value))}</td>'
                f"<td>{_esc(info.description or '')}</td></tr>"
            )
    return _table(["section", "parameter", "value", "meaning"], rows, "params")


def dict_table(d: dict[str, Any]) -> str:
    """Plain key/value table (provenance, extra); nested values as JSON."""
    rows = [
        f"<tr><th>{_esc(k)}</th><td>{_esc(fmt(v) if not isinstance(v, str) else v)}</td></tr>" for k, v in d.items()
    ]
    return _table(["key", "value"], rows, "kv")
