"""Things fitted beside the network: the linear AR baseline and the confidence calibration.

Both are fitted on one part only (AR: training part; calibration: validation part) and stored in the
checkpoint, so scoring the test part never refits anything on it.
"""

from __future__ import annotations

import numpy as np

AR_ORDER = 20  # lags of 1-bar returns in the AR baseline (covers the SMA20 horizon)
AR_RIDGE = 1e-8  # tiny ridge so a degenerate design (flat prices) still solves


def past_returns(close: np.ndarray, t: np.ndarray, order: int = AR_ORDER) -> np.ndarray:
    """Design matrix (len(t), 1 + order): intercept, r_t, r_{t-1}, ... (only bars <= t; 0 before bar 1)."""
    r = np.zeros(len(close))
    r[1:] = close[1:] / close[:-1] - 1.0
    lag_idx = t[:, None] - np.arange(order)[None, :]
    lags = np.where(lag_idx >= 1, r[np.clip(lag_idx, 0, None)], 0.0)
    return np.hstack([np.ones((len(t), 1)), lags])


def fit_ar(close: np.ndarray, t: np.ndarray, order: int = AR_ORDER) -> list[float]:
    """Least-squares AR(order) of the next return on past returns, over samples ``t`` (training part)."""
    x = past_returns(close, t, order)
    y = close[t + 1] / close[t] - 1.0
    sd = x[:, 1:].std(0)
    sd[sd == 0] = 1.0
    xs = x.copy()
    xs[:, 1:] /= sd
    penalty = AR_RIDGE * len(t) * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    coef = np.linalg.solve(xs.T @ xs + penalty, xs.T @ y)
    coef[1:] /= sd
    return [float(v) for v in coef]


def ar_predict(close: np.ndarray, t: np.ndarray, coef: list[float]) -> np.ndarray:
    """Predicted next return at each ``t`` from stored AR coefficients."""
    c = np.asarray(coef)
    return past_returns(close, t, len(c) - 1) @ c


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_calibration(strength: np.ndarray, correct: np.ndarray, l2: float = 1e-2, iters: int = 50) -> list[float]:
    """Platt scaling: P(direction right) = sigmoid(a + b * strength), by Newton's method with a small L2.

    ``strength`` is |standardised predicted return|; ``correct`` is 1/0. Few or no samples give a
    near-constant probability close to the observed hit rate (or 0.5 with no samples).
    """
    x = np.asarray(strength, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if len(x) == 0:
        return [0.0, 0.0]
    w = np.zeros(2)
    design = np.column_stack([np.ones_like(x), x])
    for _ in range(iters):
        p = _sigmoid(design @ w)
        grad = design.T @ (p - y) + l2 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return [float(w[0]), float(w[1])]


def apply_calibration(strength: np.ndarray, calib: list[float]) -> np.ndarray:
    """Calibrated probability that the predicted direction is right."""
    return _sigmoid(calib[0] + calib[1] * np.asarray(strength, dtype=np.float64))
