"""Display downsampling keeps every bucket's extremes, so spikes stay visible."""

from __future__ import annotations

import numpy as np
import pytest

from tradingmodel.report.downsample import minmax_indices, sample_indices


def test_short_series_is_kept_whole() -> None:
    assert np.array_equal(minmax_indices(np.arange(10.0), 100), np.arange(10))


@pytest.mark.parametrize("n", [4001, 10_000, 98_281])
def test_long_series_keeps_bucket_extremes_first_and_last(n: int) -> None:
    rng = np.random.default_rng(n)
    v = np.cumsum(rng.normal(size=n))
    v[n // 3] = v.max() + 50  # one-point spike up
    v[2 * n // 3] = v.min() - 50  # and down
    idx = minmax_indices(v, 4000)
    assert len(idx) <= 4000
    assert np.all(np.diff(idx) > 0)
    assert idx[0] == 0 and idx[-1] == n - 1
    assert n // 3 in idx and 2 * n // 3 in idx
    # brute force: the same buckets, each one's argmin and argmax must be drawn
    n_buckets = (4000 - 2) // 2
    size = -(-n // n_buckets)
    kept = set(idx.tolist())
    for start in range(0, n, size):
        chunk = v[start : start + size]
        assert start + int(np.argmin(chunk)) in kept
        assert start + int(np.argmax(chunk)) in kept
    # the drawn range equals the true range
    assert v[idx].max() == v.max() and v[idx].min() == v.min()


def test_nan_are_skipped_when_a_bucket_has_numbers_and_gaps_stay() -> None:
    v = np.full(10_000, np.nan)
    v[5000:] = np.linspace(1, 2, 5000)
    v[7000] = 9.0
    idx = minmax_indices(v, 100)
    assert 7000 in idx and 9999 in idx
    assert np.isnan(v[idx]).any()  # the all-NaN first half still shows as a gap
    assert np.nanmax(v[idx]) == 9.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="1-d"):
        minmax_indices(np.zeros((3, 3)), 100)
    with pytest.raises(ValueError, match="max_points"):
        minmax_indices(np.zeros(10), 2)


def test_sample_indices_is_fixed_and_sorted() -> None:
    a, b = sample_indices(10_000, 500), sample_indices(10_000, 500)
    assert np.array_equal(a, b) and len(a) == 500 and np.all(np.diff(a) > 0)
    assert np.array_equal(sample_indices(7, 500), np.arange(7))
