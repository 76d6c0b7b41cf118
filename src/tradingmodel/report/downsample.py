"""Display downsampling of long series: min/max per bucket, so spikes stay visible.

A year of minute bars is ~98,000 points per symbol; a browser draws that slowly and the HTML grows by
megabytes. For display only, the series is cut into equal-count buckets of consecutive points and each
bucket keeps the indices of its minimum and its maximum (in time order), plus the very first and last
point. Every local extreme that is the largest or smallest of its bucket survives, so a crash or a
spike is drawn at its true height; what is lost is detail *between* extremes inside one bucket.
Stored data (parquet/csv in the run folder) is never downsampled.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_POINTS = 4000


def minmax_indices(values: np.ndarray, max_points: int = DEFAULT_MAX_POINTS) -> np.ndarray:
    """Sorted indices of the points to draw: all of them when ``len(values) <= max_points``.

    Otherwise about ``max_points`` indices: per bucket the argmin and argmax (NaN ignored; an all-NaN
    bucket keeps its first index, so gaps stay gaps), plus index 0 and ``n - 1``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"minmax_indices: expected a 1-d series, got shape {v.shape}")
    if max_points < 4:
        raise ValueError(f"minmax_indices: max_points must be at least 4, got {max_points}")
    n = v.size
    if n <= max_points:
        return np.arange(n)
    n_buckets = (max_points - 2) // 2
    size = -(-n // n_buckets)  # ceil: every bucket but possibly the last is full
    n_buckets = -(-n // size)
    padded_len = n_buckets * size
    lo = np.full(padded_len, np.inf)
    hi = np.full(padded_len, -np.inf)
    finite = np.isfinite(v)
    lo[:n] = np.where(finite, v, np.inf)
    hi[:n] = np.where(finite, v, -np.inf)
    offsets = np.arange(n_buckets) * size
    i_min = lo.reshape(n_buckets, size).argmin(axis=1) + offsets
    i_max = hi.reshape(n_buckets, size).argmax(axis=1) + offsets
    # argmin/argmax of an all-NaN (or padded) bucket is its first slot: clip into range.
    idx = np.concatenate(([0, n - 1], np.minimum(i_min, n - 1), np.minimum(i_max, n - 1)))
    return np.unique(idx)


def sample_indices(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a fixed-seed uniform random sample (for scatter plots, where order is moot)."""
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False))
