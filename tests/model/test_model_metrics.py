"""The model metrics on hand-made series whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradingmodel.metrics.model import last_move_sign, pearson, persistence_score, score, wilson_interval


def test_wilson_interval_known_values() -> None:
    # 50/100: p=0.5, z=1.96 -> 0.5 +- 1.96*sqrt(0.25/100 + 1.96^2/40000)/(1+1.96^2/100)
    lo, hi = wilson_interval(50, 100)
    z = 1.959963984540054
    half = z * math.sqrt(0.25 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert lo == pytest.approx(0.5 - half) and hi == pytest.approx(0.5 + half)
    assert lo == pytest.approx(0.4038, abs=1e-4)
    lo0, hi0 = wilson_interval(0, 10)  # never below 0, and not degenerate at 0 successes
    assert lo0 == 0.0 and 0.25 < hi0 < 0.35
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_direction_excludes_zero_moves_and_counts_no_call_as_wrong() -> None:
    close = np.array([10.0, 10.0, 10.0, 10.0])
    nxt = np.array([11.0, 10.0, 9.0, 11.0])  # up, flat (excluded), down, up
    pred = np.array([10.5, 10.5, 9.5, 10.0])  # right, (excluded), right, no call -> wrong
    m = score(close, nxt, pred, prev_close=np.array([9.0, 9.0, 11.0, 9.0]))
    assert m["bars_scored"] == 4 and m["direction_bars"] == 3 and m["zero_move_bars"] == 1
    assert m["direction_accuracy"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    lo, hi = m["direction_accuracy_ci"]
    assert lo < m["direction_accuracy"] < hi
    # confidence figures over the same bars as the direction (the flat one excluded)
    c = score(close, nxt, pred, prev_close=np.array([9.0, 9.0, 11.0, 9.0]), confidence=np.array([0.9, 0.1, 0.8, 0.6]))
    assert c["confidence_mean"] == pytest.approx((0.9 + 0.8 + 0.6) / 3)
    assert c["confidence_brier"] == pytest.approx((0.1**2 + 0.2**2 + 0.6**2) / 3)


def test_correlation_is_on_returns_not_price_levels() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 2000)))
    nxt = close * (1 + rng.normal(0, 0.001, 2000))
    prev = np.r_[close[0], close[:-1]]
    noise_pred = close * (1 + rng.normal(0, 0.001, 2000))  # price-level correlation ~1, return corr ~0
    m = score(close, nxt, noise_pred, prev)
    assert np.corrcoef(noise_pred, nxt)[0, 1] > 0.99
    assert abs(m["magnitude_correlation"]) < 0.1
    assert pearson(np.ones(5), np.arange(5.0)) is None


def test_timing_counts_reversals_called_on_the_bar() -> None:
    # moves: prev -> next; reversal when next move opposes the previous one
    close = np.array([10.0, 10.0, 10.0, 10.0])
    prev = np.array([9.0, 11.0, 9.0, 9.0])  # previous move: up, down, up, up
    nxt = np.array([9.0, 11.0, 11.0, 9.0])  # next move: down (rev), up (rev), up (no), down (rev)
    pred = np.array([9.5, 9.5, 10.5, 10.5])  # calls: down (hit), down (miss), up, up (miss)
    m = score(close, nxt, pred, prev)
    assert m["reversals"] == 3
    assert m["timing_accuracy"] == pytest.approx(100 / 3, abs=1e-3)
    assert m["timing_precision"] == pytest.approx(100.0)  # one predicted reversal, and it happened


def test_persistence_uses_last_nonzero_move() -> None:
    close = np.array([10.0, 11.0, 11.0, 10.0, 10.0])
    assert last_move_sign(close).tolist() == [0.0, 1.0, 1.0, -1.0, -1.0]
    c, n, p = close[1:4], close[2:5], close[0:3]
    m = persistence_score(c, n, p, last_move_sign(close)[1:4])
    # next moves: 0 (excluded), -1 (last +1: wrong), 0 (excluded)
    assert m["direction_bars"] == 1 and m["direction_accuracy"] == 0.0
    assert m["mae"] == pytest.approx(np.mean(np.abs(c - n)))
