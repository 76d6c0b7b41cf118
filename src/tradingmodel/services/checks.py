"""The in-sample check of a backtest: does it trade bars the model was fitted or validated on?

A ``--model`` backtest knows from evaluate's split which scored bars are outside the model's test part; a
predictions file is checked against the model record ``predict`` wrote beside it. The verdict and its
warning go into the trading metrics (``in_sample``), first among the notes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _check(overlap: dict[str, int], total: int, period: dict[str, Any], how: str) -> dict[str, Any]:
    n = int(sum(overlap.values()))
    if total == 0 or n == 0:
        verdict, warning = "out-of-sample", None
    elif n == total:
        verdict = "in-sample"
        warning = (
            f"in-sample: all {total:,} predicted bars fall in the model's training period ({how}); "
            "these figures are not evidence of anything the model learned"
        )
    else:
        verdict = "partly in-sample"
        per = ", ".join(f"{s} {k:,}" for s, k in sorted(overlap.items()) if k)
        warning = (
            f"overlaps the training period by {n:,} of {total:,} predicted bars ({per}; {how}); "
            "these figures are not out-of-sample evidence"
        )
    return {
        "verdict": verdict,
        "overlap_bars": n,
        "predicted_bars": int(total),
        "per_symbol": {s: int(k) for s, k in sorted(overlap.items())},
        "training_period": period,
        "warning": warning,
    }


def sample_check_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """In-sample check of a ``--model`` backtest: scored bars outside the model's test part (``split``
    ``train``/``val``, or the purge ``gap`` between them, whose windows reach into seen bars)."""
    scored = frame.loc[frame["scored"]]
    seen = scored["split"].ne("test")
    overlap = seen.groupby(scored["symbol"]).sum().to_dict()
    return _check(overlap, len(scored), {}, "bars the model was fitted or validated on")


def sample_check_from_origin(predictions: pd.DataFrame, origin: dict[str, Any] | None, source: str) -> dict[str, Any]:
    """In-sample check of a predictions file against the model record written beside it by ``predict``
    (``model.predict.prediction_origin``): predictions at bars inside a symbol's training period."""
    if origin is None:
        return {
            "verdict": "unknown",
            "overlap_bars": None,
            "predicted_bars": int(len(predictions)),
            "per_symbol": {},
            "training_period": {},
            "warning": (
                f"{source} has no model record beside it (written by `tradingmodel predict`): "
                "cannot tell whether these bars were in the model's training period"
            ),
        }
    ts = pd.to_datetime(predictions["timestamp"], utc=True, errors="coerce", format="ISO8601")
    syms = predictions["symbol"].astype(str).str.strip().str.upper()
    overlap, period = {}, {}
    for sym, rec in origin["symbols"].items():
        span = rec.get("training_period") if isinstance(rec, dict) else None
        if not span:
            continue
        lo, hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
        period[sym] = [str(span[0]), str(span[1])]
        mine = np.asarray(syms == str(sym).upper())
        overlap[sym] = int((mine & np.asarray((ts >= lo) & (ts <= hi))).sum())
    return _check(overlap, len(predictions), period, f"model {origin.get('model_dir', '?')}")


def attach_sample_check(metrics: dict[str, Any], check: dict[str, Any]) -> None:
    """Store the check in the trading metrics (``in_sample``) with its warning first among the notes."""
    metrics["in_sample"] = check
    if check.get("warning"):
        metrics["notes"] = [check["warning"], *metrics.get("notes", [])]
