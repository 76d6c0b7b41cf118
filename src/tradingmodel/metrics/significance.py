"""Is an edge more than chance? Four tests, each with a sentence in plain words.

* :func:`diebold_mariano`: do the model's squared return errors differ from a baseline's? Loss
  differential ``d_t = e_model_t^2 - e_base_t^2``; statistic ``mean(d) / sqrt(V / n)`` with ``V`` the
  Newey-West long-run variance over ``h - 1`` lags, the Harvey-Leybourne-Newbold small-sample factor and a
  Student t with ``n - 1`` degrees of freedom. Reported: two-sided p and the one-sided p of "the model's
  errors are smaller".
* :func:`binomial_direction`: exact binomial p-value of ``k`` right directions out of ``n`` against a
  coin (50 %), one-sided ("better than a coin").
* :func:`bootstrap_sharpe`: a moving-block bootstrap interval of an annualised Sharpe ratio (blocks keep
  the short-range dependence of bar returns; block length ``n ** (1/3)`` rounded up).
* :func:`deflated_sharpe`: Bailey and Lopez de Prado's deflated Sharpe ratio: the probability that the
  true Sharpe is above the best Sharpe expected from ``trials`` configurations with no skill, given the
  sample length, skewness and kurtosis of the returns. With one trial it is the probabilistic Sharpe
  ratio against 0. The spread of the no-skill Sharpes is the sampling variance of a Sharpe estimate
  (``1 / (n - 1)`` per bar), since a run's own few configurations give no usable estimate of it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329
LEVEL = 0.05


def _p(x: float) -> str:
    return "p < 0.001" if x < 0.001 else f"p = {x:.3f}"


def diebold_mariano(e_model: np.ndarray, e_base: np.ndarray, h: int = 1, name: str = "the baseline") -> dict:
    """Diebold-Mariano test on squared errors (see the module docstring); ``e_*`` are forecast errors."""
    e1, e2 = np.asarray(e_model, dtype=np.float64), np.asarray(e_base, dtype=np.float64)
    if e1.shape != e2.shape:
        raise ValueError(f"diebold_mariano: error series differ in length ({e1.size} vs {e2.size})")
    d = e1**2 - e2**2
    n = d.size
    out: dict[str, Any] = {
        "n": int(n),
        "mean_loss_difference": float(d.mean()) if n else None,
        "statistic": None,
        "p_value": None,
        "p_value_model_better": None,
    }
    if n < 3:
        out["verdict"] = f"too few errors ({n}) to compare with {name}"
        return out
    dc = d - d.mean()
    var = float(dc @ dc) / n
    for k in range(1, h):
        var += 2.0 * (1.0 - k / h) * float(dc[k:] @ dc[:-k]) / n  # Bartlett weights (Newey-West)
    if var <= 0:
        out["verdict"] = f"the squared errors are identical to {name}'s on every bar"
        return out
    dm = float(d.mean()) / math.sqrt(var / n)
    dm *= math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)  # Harvey, Leybourne and Newbold (1997)
    p_two = float(2 * stats.t.sf(abs(dm), n - 1))
    p_better = float(stats.t.cdf(dm, n - 1))
    lower = dm < 0
    word = "smaller" if lower else "larger"
    sig = p_two < LEVEL
    out.update(
        statistic=dm,
        p_value=p_two,
        p_value_model_better=p_better,
        significant=sig,
        verdict=(
            f"the model's squared errors are {word} than {name}'s"
            + (f", significantly ({_p(p_two)})" if sig else f", but not significantly ({_p(p_two)})")
        ),
    )
    return out


def binomial_direction(k: int, n: int) -> dict:
    """One-sided exact binomial test of ``k`` right directions in ``n`` against 50 %."""
    if n <= 0:
        return {
            "k": int(k),
            "n": int(n),
            "p_value": None,
            "significant": False,
            "verdict": "no direction to test (no bar moved)",
        }
    p = float(stats.binomtest(int(k), int(n), 0.5, alternative="greater").pvalue)
    sig = p < LEVEL
    acc = 100.0 * k / n
    return {
        "k": int(k),
        "n": int(n),
        "accuracy": acc,
        "p_value": p,
        "significant": sig,
        "verdict": (
            f"{acc:.2f}% of {n:,} directions right is "
            + ("significantly better than a coin" if sig else "not significantly better than a coin")
            + f" ({_p(p)})"
        ),
    }


def sharpe(r: np.ndarray, bars_per_year: float = 1.0) -> float:
    """Annualised Sharpe ratio of per-bar returns (``mean / std(ddof=1) * sqrt(bars_per_year)``; 0 if flat)."""
    r = np.asarray(r, dtype=np.float64)
    if r.size < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd * math.sqrt(bars_per_year) if sd > 0 else 0.0


def bootstrap_sharpe(
    r: np.ndarray,
    bars_per_year: float,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    block: int | None = None,
    seed: int = 0,
) -> dict:
    """Moving-block bootstrap interval of the annualised Sharpe ratio of per-bar returns ``r``."""
    r = np.asarray(r, dtype=np.float64)
    n = r.size
    point = sharpe(r, bars_per_year)
    if n < 4 or float(r.std()) == 0.0:
        return {
            "sharpe_ratio": point,
            "interval": [point, point],
            "level": level,
            "block": 0,
            "verdict": "the equity never moved; no interval" if n >= 4 else f"too few bars ({n})",
        }
    b = block or max(1, math.ceil(n ** (1 / 3)))
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / b)
    starts = rng.integers(0, n - b + 1, size=(n_boot, n_blocks))
    sr = np.empty(n_boot)
    chunk = max(1, 2_000_000 // (n_blocks * b))  # bounded memory on long series
    for i in range(0, n_boot, chunk):
        s = starts[i : i + chunk]
        sample = r[(s[:, :, None] + np.arange(b)[None, None, :]).reshape(len(s), -1)[:, :n]]
        sd = sample.std(axis=1, ddof=1)
        sr[i : i + chunk] = np.divide(sample.mean(axis=1), sd, out=np.zeros(len(s)), where=sd > 0)
    sr *= math.sqrt(bars_per_year)
    lo, hi = (float(v) for v in np.quantile(sr, [(1 - level) / 2, (1 + level) / 2]))
    where = "above 0" if lo > 0 else ("below 0" if hi < 0 else "includes 0")
    return {
        "sharpe_ratio": point,
        "interval": [lo, hi],
        "level": level,
        "block": b,
        "verdict": f"Sharpe ratio {point:.2f}, {level:.0%} interval [{lo:.2f}, {hi:.2f}] ({where})",
    }


def deflated_sharpe(r: np.ndarray, trials: int) -> dict:
    """Deflated Sharpe ratio of per-bar returns ``r`` after ``trials`` configurations were tried."""
    r = np.asarray(r, dtype=np.float64)
    n = r.size
    if trials < 1:
        raise ValueError(f"deflated_sharpe: trials must be at least 1, got {trials}")
    if n < 4 or float(r.std()) == 0.0:
        return {
            "trials": int(trials),
            "probability": None,
            "significant": False,
            "verdict": "the equity never moved; nothing to deflate" if n >= 4 else f"too few bars ({n})",
        }
    sr = sharpe(r)  # per bar, not annualised: the formula's units
    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))
    sd0 = math.sqrt(1.0 / (n - 1))
    if trials == 1:
        sr0 = 0.0
    else:
        z = stats.norm.ppf
        sr0 = sd0 * ((1 - EULER_GAMMA) * z(1 - 1 / trials) + EULER_GAMMA * z(1 - 1 / (trials * math.e)))
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    prob = float(stats.norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(max(denom, 1e-12))))
    sig = prob > 1 - LEVEL
    return {
        "trials": int(trials),
        "sharpe_per_bar": sr,
        "expected_max_null_sharpe_per_bar": sr0,
        "skewness": skew,
        "kurtosis": kurt,
        "probability": prob,
        "significant": sig,
        "verdict": (
            f"after {trials} configuration(s) tried, the probability that the true Sharpe ratio "
            f"beats the best of {trials} no-skill one(s) is {prob:.1%}"
            + (" (significant)" if sig else " (not significant at 95%)")
        ),
    }
