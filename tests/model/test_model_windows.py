"""Windows: zero-copy, correct normalisation, purged chronological splits, training-only scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tradingmodel.data import simulate
from tradingmodel.model.windows import (
    Scaler,
    Split,
    WindowSet,
    fit_scaler,
    next_returns,
    scale_windows,
    symbol_series,
)

L = 20


def _series(days: int = 3, seed: int = 1):
    return symbol_series(simulate(["AAA"], days, seed=seed), "AAA")


def test_windows_are_a_view_and_batches_match_a_naive_computation() -> None:
    s = _series()
    sc = Scaler(np.arange(5) * 0.1, np.arange(1, 6) * 0.5, 0.002)
    ws = WindowSet([s], [sc], L)
    assert ws.view.untyped_storage().data_ptr() == ws.x.untyped_storage().data_ptr()  # no copy
    assert ws.nbytes() == s.n * 5 * 4 + s.n * 4
    t = np.array([s.first_window_end(L), 200, s.n - 2])
    xb, yb = ws.batch(torch.from_numpy(t), torch.zeros(3, dtype=torch.int64))
    for k, tk in enumerate(t):
        raw = s.x[tk - L + 1 : tk + 1].astype(np.float64).copy()
        raw[:, [0, 2, 3]] = raw[:, [0, 2, 3]] / raw[-1, 0] - 1.0
        want = (raw - sc.mean) / sc.std
        np.testing.assert_allclose(xb[k].numpy(), want, rtol=1e-5, atol=1e-5)
        assert yb[k].item() == np.float32((s.close[tk + 1] / s.close[tk] - 1) / 0.002)


def test_numpy_scaling_has_the_bits_of_the_torch_batch() -> None:
    """The live predictor scales windows with numpy; training and model.predict with torch: same bits."""
    series = [_series(seed=1), _series(seed=2)]
    rng = np.random.default_rng(3)
    scalers = [Scaler(rng.normal(size=5), rng.uniform(0.1, 3.0, size=5), 0.002) for _ in series]
    ws = WindowSet(series, scalers, L)
    g = np.concatenate([ws.global_index(k, np.arange(s.first_window_end(L), s.n, 7)) for k, s in enumerate(series)])
    sym = ws.symbol_of(torch.from_numpy(g))
    want, _ = ws.batch(torch.from_numpy(g), sym)
    raw = np.stack([ws.x.numpy()[i - L + 1 : i + 1] for i in g])
    mean = np.stack([sc.mean for sc in scalers]).astype(np.float32)[sym.numpy()][:, None, :]
    std = np.stack([sc.std for sc in scalers]).astype(np.float32)[sym.numpy()][:, None, :]
    got = scale_windows(raw, mean, std, np.empty_like(raw))
    assert len(g) > 50 and got.dtype == np.float32
    assert np.array_equal(got.view(np.int32), want.numpy().view(np.int32))


def test_splits_are_chronological_with_purge_gap_and_no_straddling() -> None:
    s = _series(days=4)
    sp = Split.make(s.n, 0.7, 0.15, gap=L)
    parts = {p: sp.samples(p, s, L) for p in ("train", "val", "test")}
    assert all(len(v) > 0 for v in parts.values())
    for p, t in parts.items():
        lo, hi = sp.part_range(p)
        assert (t - L + 1 >= lo).all() and (t + 1 < hi).all(), p  # window and target inside the part
    # between the last bar a training sample touches and the first bar a validation window reads
    assert (parts["val"].min() - L + 1) - (parts["train"].max() + 1) > L
    assert (parts["test"].min() - L + 1) - (parts["val"].max() + 1) > L


def test_scaler_uses_training_rows_only() -> None:
    bars = simulate(["AAA"], 4, seed=2)
    s = symbol_series(bars, "AAA")
    sp = Split.make(s.n, 0.7, 0.15, gap=L)
    train_t = sp.samples("train", s, L)
    base = fit_scaler(s, train_t, L)
    # Wreck everything after the training part: the scaler must not move.
    later = bars.copy()
    cut = sp.a
    later.loc[cut:, ["open", "high", "low", "close"]] *= 5.0
    later.loc[cut:, "volume"] *= 100.0
    s2 = symbol_series(later, "AAA")
    after = fit_scaler(s2, sp.samples("train", s2, L), L)
    assert np.array_equal(base.mean, after.mean) and np.array_equal(base.std, after.std)
    assert base.target_scale == after.target_scale
    # ...while a change inside the training part does move it (the test can fail).
    inside = bars.copy()
    inside.loc[100:400, "volume"] *= 100.0
    s3 = symbol_series(inside, "AAA")
    assert not np.array_equal(fit_scaler(s3, sp.samples("train", s3, L), L).mean, base.mean)


def test_target_is_next_return_and_bad_rows_are_named() -> None:
    c = np.array([100.0, 101.0, 99.99])
    np.testing.assert_allclose(next_returns(c)[:2], [0.01, 99.99 / 101 - 1])
    assert np.isnan(next_returns(c)[-1])
    bars = simulate(["AAA"], 1, seed=1)
    bad = bars.copy()
    bad.loc[37, "close"] = -1.0
    try:
        symbol_series(bad, "AAA")
    except ValueError as e:
        assert "AAA row 37" in str(e) and "close" in str(e)
    else:  # pragma: no cover
        raise AssertionError("negative close accepted")
    swapped = pd.concat([bars.iloc[:10], bars.iloc[[5]]], ignore_index=True)
    try:
        symbol_series(swapped, "AAA")
    except ValueError as e:
        assert "not strictly increasing" in str(e)
    else:  # pragma: no cover
        raise AssertionError("unsorted timestamps accepted")
