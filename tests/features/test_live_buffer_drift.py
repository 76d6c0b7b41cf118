"""How far features from only the last N bars drift from the full-history value; picks LIVE_BUFFER_BARS.

SMA20, volume SMA20 and ret_std20 only look at 20 bars, so any N >= 21 is exact. EMA20 and RSI14
have infinite memory: a buffer restarts them from an SMA seed, and the error decays like
(19/21)^N for the EMA and (13/14)^N for the RSI. The live buffer must make that drift smaller than
the batch == incremental tolerance (1e-9 relative) so live features equal backtest features.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradingmodel.data import simulate
from tradingmodel.features import ALL_NAMES, LIVE_BUFFER_BARS, StreamingFeatures, feature_arrays

TOLERANCE = 1e-9
GRID = (25, 50, 100, 150, 200, 250, 300, 350, LIVE_BUFFER_BARS)


def _worst_drift(n_bars: int, series: list[tuple[np.ndarray, np.ndarray]], ends: np.ndarray) -> np.ndarray:
    worst = np.zeros(len(ALL_NAMES))
    for c, v in series:
        full = feature_arrays(c, v)
        for t in ends:
            part = feature_arrays(c[t - n_bars + 1 : t + 1], v[t - n_bars + 1 : t + 1])[-1]
            worst = np.maximum(worst, np.abs(part - full[t]) / np.abs(full[t]))
    return worst


@pytest.fixture(scope="module")
def series() -> list[tuple[np.ndarray, np.ndarray]]:
    bars = simulate(["AAA", "BBB", "CCC"], 12, seed=3)
    return [(g["close"].to_numpy(), g["volume"].to_numpy()) for _, g in bars.groupby("symbol")]


def test_drift_shrinks_with_buffer_length_and_picks_the_live_buffer(series) -> None:
    ends = np.random.default_rng(0).integers(1000, len(series[0][0]), 30)
    col = {n: j for j, n in enumerate(ALL_NAMES)}
    table = {n: _worst_drift(n, series, ends) for n in GRID}
    print("\nbuffer  ema20 drift  rsi14 drift  (worst relative, 90 end points; see with pytest -s)")
    for n, w in table.items():
        print(f"{n:6d}  {w[col['ema20']]:.1e}      {w[col['rsi14']]:.1e}")
    for w in table.values():  # windowed features are exact once the buffer holds their window
        assert max(w[col["sma20"]], w[col["volume_sma20"]], w[col["ret_std20"]]) < 1e-12
    ema = [table[n][col["ema20"]] for n in GRID[:-1]]
    rsi = [table[n][col["rsi14"]] for n in GRID[:-1]]
    assert all(a >= b for a, b in zip(ema[:6], ema[1:7], strict=True))  # decays until rounding level
    assert all(a >= b for a, b in zip(rsi[:-1], rsi[1:], strict=True))
    assert table[100][col["rsi14"]] > 1e-4  # a short buffer visibly changes RSI
    smallest_ok = min(n for n, w in table.items() if w.max() < TOLERANCE)
    assert smallest_ok <= LIVE_BUFFER_BARS
    assert table[LIVE_BUFFER_BARS].max() < TOLERANCE / 100  # two orders of magnitude of margin


def test_live_stream_from_the_buffer_matches_the_backtest(series) -> None:
    c, v = series[0]
    start = 2000
    live = StreamingFeatures.from_history(c[start - LIVE_BUFFER_BARS : start], v[start - LIVE_BUFFER_BARS : start])
    got = np.array([live.update(x, y) for x, y in zip(c[start:], v[start:], strict=True)])
    np.testing.assert_allclose(got, feature_arrays(c, v)[start:], rtol=TOLERANCE, atol=0)
