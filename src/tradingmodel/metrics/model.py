"""Honest model metrics: next-return direction with a Wilson interval, return correlation, reversal timing.

All figures compare a prediction made after bar t closes with bar t+1's close. Definitions:

* ``direction_accuracy``: percent of scored bars whose predicted sign of the next return equals the actual
  sign. Bars whose actual next move is exactly zero are EXCLUDED (counted in ``zero_move_bars``); a
  prediction of no move (sign 0) on a bar that did move counts as wrong. ``direction_accuracy_ci`` is the
  Wilson 95% interval ``[low, high]`` in percent over the ``direction_bars`` counted.
* ``magnitude_correlation``: Pearson correlation of predicted and actual next *returns* (never price levels,
  which correlate ~1 for any model that outputs something near the last price).
* ``timing_accuracy``: percent of actual reversals (bar t+1 moves against bar t's move, both non-zero) whose
  new direction was predicted at t, i.e. called on the bar it happened, not one bar late.
  ``timing_precision``: of the bars where a reversal was predicted, the percent where one happened.
* ``mse`` / ``mae``: errors of the predicted close in price units; ``mse_return`` / ``mae_return``: errors
  of the predicted next return (fraction, 0.01 = 1%).
* with confidences: ``confidence_mean`` and ``confidence_brier`` (Brier score of "direction is right").
"""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (fractions); (nan, nan) when n == 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _pct(x: float) -> float | None:
    return None if not np.isfinite(x) else round(100.0 * float(x), 4)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation; ``None`` when either side is constant or there are fewer than 3 points."""
    if len(a) < 3:
        return None
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return None if den == 0 else float(a @ b) / den


def last_move_sign(close: np.ndarray) -> np.ndarray:
    """Sign of the most recent non-zero move up to each bar (0 before the first move)."""
    move = np.zeros(len(close))
    move[1:] = np.sign(np.diff(close))
    idx = np.where(move != 0, np.arange(len(move)), 0)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx > 0, move[idx], 0.0)


def score(
    close: np.ndarray,
    next_close: np.ndarray,
    pred_close: np.ndarray,
    prev_close: np.ndarray,
    *,
    pred_dir: np.ndarray | None = None,
    corr_return: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
) -> dict:
    """Score predictions of ``next_close`` made at bars with ``close`` (previous bar's close ``prev_close``).

    ``pred_dir`` overrides the predicted direction (default: sign of predicted minus current close);
    ``corr_return`` overrides the predicted return used for the correlation (the persistence baseline
    predicts no move but "the last move again" as its direction and return).
    """
    close, next_close, pred_close = (np.asarray(v, dtype=np.float64) for v in (close, next_close, pred_close))
    n = len(close)
    actual_r = next_close / close - 1.0
    pred_r = pred_close / close - 1.0
    prev_r = close / np.asarray(prev_close, dtype=np.float64) - 1.0
    d_pred = np.sign(pred_r) if pred_dir is None else np.asarray(pred_dir, dtype=np.float64)
    d_act = np.sign(actual_r)
    d_prev = np.sign(prev_r)
    moved = d_act != 0
    hits = int(np.sum(d_pred[moved] == d_act[moved]))
    nd = int(moved.sum())
    lo, hi = wilson_interval(hits, nd)
    reversal = moved & (d_prev != 0) & (d_act == -d_prev)
    called_rev = moved & (d_prev != 0) & (d_pred == -d_prev)
    out: dict = {
        "bars_scored": n,
        "direction_bars": nd,
        "zero_move_bars": n - nd,
        "direction_accuracy": _pct(hits / nd) if nd else None,
        "direction_accuracy_ci": [_pct(lo), _pct(hi)],
        "magnitude_correlation": pearson(pred_r if corr_return is None else np.asarray(corr_return), actual_r),
        "timing_accuracy": _pct(np.mean(d_pred[reversal] == d_act[reversal])) if reversal.any() else None,
        "timing_precision": _pct(np.mean(reversal[called_rev])) if called_rev.any() else None,
        "reversals": int(reversal.sum()),
        "mse": float(np.mean((pred_close - next_close) ** 2)) if n else None,
        "mae": float(np.mean(np.abs(pred_close - next_close))) if n else None,
        "mse_return": float(np.mean((pred_r - actual_r) ** 2)) if n else None,
        "mae_return": float(np.mean(np.abs(pred_r - actual_r))) if n else None,
    }
    if confidence is not None:
        c = np.asarray(confidence, dtype=np.float64)
        right = (d_pred == d_act).astype(np.float64)
        out["confidence_mean"] = float(c[moved].mean()) if nd else None
        out["confidence_brier"] = float(np.mean((c[moved] - right[moved]) ** 2)) if nd else None
    return out


def persistence_score(close: np.ndarray, next_close: np.ndarray, prev_close: np.ndarray, last_sign: np.ndarray) -> dict:
    """The persistence baseline: next close = this close; direction (and return) = the last move's."""
    prev_r = np.asarray(close) / np.asarray(prev_close) - 1.0
    return score(
        close, next_close, np.asarray(close, dtype=np.float64), prev_close, pred_dir=last_sign, corr_return=prev_r
    )
