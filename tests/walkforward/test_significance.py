"""The significance tests against values worked by hand on small series, and on null data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradingmodel.metrics import significance as sig


def test_diebold_mariano_matches_a_hand_computation() -> None:
    e_model = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    e_base = np.array([2.0, 1.0, 2.0, 2.0, 1.0])
    # d = e_model^2 - e_base^2 = [-3, 0, -3, -3, 0]: mean -1.8, population variance (1.44*... ) = 2.16
    # DM = -1.8 / sqrt(2.16 / 5) = -2.7386; HLN factor sqrt((5 + 1 - 2) / 5) = 0.8944 -> -2.4495
    r = sig.diebold_mariano(e_model, e_base, name="the test baseline")
    assert r["mean_loss_difference"] == pytest.approx(-1.8)
    assert r["statistic"] == pytest.approx(-1.8 / math.sqrt(2.16 / 5) * math.sqrt(4 / 5))
    assert r["statistic"] == pytest.approx(-2.449490, abs=1e-6)
    # two-sided t(4) p-value of 2.4495: 0.07048 (tables: t_{0.05,4} = 2.132, t_{0.025,4} = 2.776)
    assert r["p_value"] == pytest.approx(0.070484, abs=1e-5)
    assert r["p_value_model_better"] == pytest.approx(0.070484 / 2, abs=1e-5)
    assert not r["significant"] and "smaller than the test baseline's, but not significantly" in r["verdict"]
    # h = 2 adds the lag-1 autocovariance with weight 1/2: sum dc_t dc_{t-1} / n = -0.648 / 5 ... by hand
    dc = np.array([-3, 0, -3, -3, 0]) + 1.8
    v2 = (dc @ dc) / 5 + 2 * 0.5 * (dc[1:] @ dc[:-1]) / 5
    r2 = sig.diebold_mariano(e_model, e_base, h=2)
    assert r2["statistic"] == pytest.approx(-1.8 / math.sqrt(v2 / 5) * math.sqrt((5 + 1 - 4 + 2 / 5) / 5))
    with pytest.raises(ValueError, match="differ in length"):
        sig.diebold_mariano(e_model, e_base[:3])
    assert sig.diebold_mariano(e_model, e_model)["p_value"] is None  # identical errors: nothing to test


def test_binomial_direction_matches_a_hand_computation() -> None:
    # P(X >= 7 | n = 10, p = 1/2) = (120 + 45 + 10 + 1) / 1024
    r = sig.binomial_direction(7, 10)
    assert r["p_value"] == pytest.approx(176 / 1024)
    assert not r["significant"] and "not significantly better than a coin" in r["verdict"]
    assert sig.binomial_direction(9, 10)["p_value"] == pytest.approx(11 / 1024)
    assert sig.binomial_direction(9, 10)["significant"]
    assert sig.binomial_direction(0, 0)["p_value"] is None


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_ratio() -> None:
    # returns with per-bar Sharpe exactly 0.1, skew 0 and kurtosis 3 would give
    # PSR = Phi(0.1 * sqrt(T - 1) / sqrt(1 + 0.5 * 0.01)); check the pieces on a symmetric series
    r = np.tile([0.011, -0.009, 0.011, -0.009], 25)  # mean 0.001, symmetric: skew 0
    d = sig.deflated_sharpe(r, 1)
    sr = r.mean() / r.std(ddof=1)
    kurt = 1.0  # two-point symmetric distribution: kurtosis 1
    want = 0.5 * (1 + math.erf(sr * math.sqrt(99) / math.sqrt(1 + (kurt - 1) / 4 * sr**2) / math.sqrt(2)))
    assert d["skewness"] == pytest.approx(0.0, abs=1e-9) and d["kurtosis"] == pytest.approx(1.0)
    assert d["probability"] == pytest.approx(want)
    # more configurations tried raise the bar: expected max of N no-skill Sharpes, with sd 1/sqrt(T-1)
    d10 = sig.deflated_sharpe(r, 10)
    z = [1.2815515655446004, 1.6448536269514722]  # Phi^-1(0.9), and Phi^-1(1 - 1/(10 e)) computed below
    from scipy.stats import norm

    z[1] = norm.ppf(1 - 1 / (10 * math.e))
    sr0 = (1 / math.sqrt(99)) * ((1 - sig.EULER_GAMMA) * z[0] + sig.EULER_GAMMA * z[1])
    assert d10["expected_max_null_sharpe_per_bar"] == pytest.approx(sr0)
    assert d10["probability"] < d["probability"]
    with pytest.raises(ValueError, match="trials must be at least 1"):
        sig.deflated_sharpe(r, 0)


def test_bootstrap_sharpe_interval_covers_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0005, 0.01, 2000)
    a = sig.bootstrap_sharpe(r, 252, n_boot=500, seed=1)
    b = sig.bootstrap_sharpe(r, 252, n_boot=500, seed=1)
    assert a == b and a["interval"][0] < a["sharpe_ratio"] < a["interval"][1]
    assert a["sharpe_ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    # the interval's width is about that of the Sharpe estimate, 2 * 1.96 * sqrt(252 / n)
    assert a["interval"][1] - a["interval"][0] == pytest.approx(2 * 1.96 * math.sqrt(252 / 2000), rel=0.25)
    flat = sig.bootstrap_sharpe(np.zeros(50), 252)
    assert flat["interval"] == [0.0, 0.0] and "never moved" in flat["verdict"]


def test_tests_reject_about_five_percent_of_null_samples() -> None:
    rng = np.random.default_rng(11)
    n_rep, rejections = 400, {"dm": 0, "binomial": 0, "bootstrap": 0, "deflated": 0}
    for _ in range(n_rep):
        a, b = rng.standard_normal(200), rng.standard_normal(200)
        rejections["dm"] += sig.diebold_mariano(a, b)["significant"]
        rejections["binomial"] += sig.binomial_direction(int(rng.binomial(200, 0.5)), 200)["significant"]
        r = rng.normal(0, 0.01, 200)
        rejections["deflated"] += sig.deflated_sharpe(r, 1)["significant"]
    for _ in range(100):  # the bootstrap is slower: fewer replications, two-sided 5 %
        r = rng.normal(0, 0.01, 200)
        iv = sig.bootstrap_sharpe(r, 252, n_boot=300, seed=int(rng.integers(1 << 30)))["interval"]
        rejections["bootstrap"] += iv[0] > 0 or iv[1] < 0
    share = {k: v / (100 if k == "bootstrap" else n_rep) for k, v in rejections.items()}
    print("null rejection share at 5 %:", share)
    assert 0.02 <= share["dm"] <= 0.09, share
    assert share["binomial"] <= 0.07, share  # discrete: at most 5 % by construction, about 4 % here
    assert 0.02 <= share["deflated"] <= 0.09, share
    assert share["bootstrap"] <= 0.13, share
