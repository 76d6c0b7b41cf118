"""Feature values: worked by hand, no look-ahead, batch == incremental, per-symbol isolation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradingmodel.data import simulate
from tradingmodel.features import (
    ALL_NAMES,
    EXTRA_NAMES,
    FEATURE_NAMES,
    WARMUP_BARS,
    StreamingFeatures,
    compute_features,
    feature_arrays,
)

COL = {name: j for j, name in enumerate(ALL_NAMES)}


def test_names() -> None:
    assert FEATURE_NAMES == ("close", "volume", "sma20", "ema20", "rsi14")
    assert EXTRA_NAMES == ("volume_sma20", "ret_std20")
    assert ALL_NAMES == FEATURE_NAMES + EXTRA_NAMES


def test_sma_ema_by_hand() -> None:
    close = np.arange(1.0, 23.0)  # 1, 2, ..., 22
    volume = np.arange(1.0, 23.0) * 10
    f = feature_arrays(close, volume)
    assert np.isnan(f[:19, COL["sma20"]]).all() and np.isnan(f[:19, COL["ema20"]]).all()
    # SMA20 of 1..20 = 10.5, of 2..21 = 11.5, of 3..22 = 12.5.
    assert f[19:, COL["sma20"]].tolist() == pytest.approx([10.5, 11.5, 12.5], rel=1e-12)
    assert f[19:, COL["volume_sma20"]].tolist() == pytest.approx([105.0, 115.0, 125.0], rel=1e-12)
    # EMA20 is seeded with the SMA of the first 20 closes (10.5), then ema += (x - ema) * 2/21:
    # (21 - 10.5) * 2/21 + 10.5 = 11.5;  (22 - 11.5) * 2/21 + 11.5 = 12.5.
    assert f[19:, COL["ema20"]].tolist() == pytest.approx([10.5, 11.5, 12.5], rel=1e-12)
    assert f[:, COL["close"]].tolist() == close.tolist() and f[:, COL["volume"]].tolist() == volume.tolist()


def test_rsi_by_hand() -> None:
    # 14 alternating moves of +1/-1: average gain = average loss = 0.5 -> RSI 50 at bar 14.
    close = np.array([10.0, 11.0] * 7 + [10.0, 12.0, 9.0])
    f = feature_arrays(close, np.ones_like(close))
    rsi = f[:, COL["rsi14"]]
    assert np.isnan(rsi[:14]).all()
    assert rsi[14] == pytest.approx(50.0, rel=1e-12)
    # Bar 15 moves +2 (Wilder): gain = (0.5*13 + 2)/14 = 8.5/14, loss = 0.5*13/14 = 6.5/14 -> 100*8.5/15.
    assert rsi[15] == pytest.approx(100 * 8.5 / 15, rel=1e-12)
    # Bar 16 moves -3: gain = 8.5*13/196 = 110.5/196, loss = (6.5*13 + 42)/196 = 126.5/196.
    assert rsi[16] == pytest.approx(100 * 110.5 / 237, rel=1e-12)
    # Flat prices: no gains and no losses -> TA-Lib returns 0.
    assert feature_arrays(np.full(20, 5.0), np.ones(20))[-1, COL["rsi14"]] == 0.0


def test_ret_std_by_hand() -> None:
    # Returns alternate +1% and -1%: mean 0, population stdev exactly 1%.
    factors = np.array([1.01, 0.99] * 10)
    close = 100 * np.concatenate([[1.0], np.cumprod(factors)])
    f = feature_arrays(close, np.ones_like(close))
    std = f[:, COL["ret_std20"]]
    assert np.isnan(std[:20]).all()
    assert std[20] == pytest.approx(0.01, rel=1e-9)
    # ddof=0 by definition, checked against numpy on a random series.
    rng = np.random.default_rng(0)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    r = c[1:] / c[:-1] - 1
    got = feature_arrays(c, np.ones_like(c))[:, COL["ret_std20"]]
    assert got[40] == pytest.approx(np.std(r[20:40], ddof=0), rel=1e-12)


def test_warmup_rows() -> None:
    f = feature_arrays(np.linspace(10, 11, 100), np.ones(100))
    nan_rows = np.isnan(f).any(axis=1)
    assert WARMUP_BARS == 20
    assert nan_rows[:WARMUP_BARS].all() and not nan_rows[WARMUP_BARS:].any()


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return simulate(["AAA", "BBB"], 6, seed=21, signal=0.5)


def test_no_look_ahead(bars: pd.DataFrame) -> None:
    full = compute_features(bars)
    one = bars[bars["symbol"] == "AAA"].reset_index(drop=True)
    full_one = full[full["symbol"] == "AAA"].reset_index(drop=True)
    rng = np.random.default_rng(1)
    for t in sorted(rng.choice(len(one), size=25, replace=False)):
        cut = compute_features(one.iloc[: t + 1])
        a = cut[list(ALL_NAMES)].iloc[t].to_numpy()
        b = full_one[list(ALL_NAMES)].iloc[t].to_numpy()
        np.testing.assert_array_equal(a, b, err_msg=f"features at bar {t} changed when later bars were deleted")


def test_batch_equals_incremental(bars: pd.DataFrame) -> None:
    for _, g in bars.groupby("symbol"):
        c, v = g["close"].to_numpy(), g["volume"].to_numpy()
        batch = feature_arrays(c, v)
        stream = StreamingFeatures()
        inc = np.array([stream.update(x, y) for x, y in zip(c, v, strict=True)])
        assert np.array_equal(np.isnan(batch), np.isnan(inc))
        np.testing.assert_allclose(inc, batch, rtol=1e-9, atol=0, equal_nan=True)
        assert stream.ready and stream.bars_seen == len(c)
        # Warming up from history then continuing equals the uninterrupted stream.
        resumed = StreamingFeatures.from_history(c[:1000], v[:1000])
        np.testing.assert_allclose(
            np.array([resumed.update(x, y) for x, y in zip(c[1000:], v[1000:], strict=True)]),
            batch[1000:],
            rtol=1e-9,
            atol=0,
        )


def test_incremental_warmup_is_nan_then_ready() -> None:
    s = StreamingFeatures()
    rows = [s.update(10 + 0.1 * np.sin(i), 100 + i) for i in range(WARMUP_BARS + 1)]
    assert all(np.isnan(r).any() for r in rows[:WARMUP_BARS])
    assert not np.isnan(rows[WARMUP_BARS]).any()


def test_incremental_rejects_bad_bars() -> None:
    s = StreamingFeatures()
    for close, volume in ((float("nan"), 1.0), (0.0, 1.0), (1.0, -1.0), (1.0, float("inf"))):
        with pytest.raises(ValueError):
            s.update(close, volume)
    assert s.bars_seen == 0  # a rejected bar changes nothing


def test_compute_features_is_per_symbol(bars: pd.DataFrame) -> None:
    full = compute_features(bars)
    assert list(full.columns) == [*bars.columns, "sma20", "ema20", "rsi14", "volume_sma20", "ret_std20"]
    for sym, g in bars.groupby("symbol"):
        own = feature_arrays(g["close"].to_numpy(), g["volume"].to_numpy())[:, 2:]
        np.testing.assert_array_equal(full.loc[g.index, list(ALL_NAMES[2:])].to_numpy(), own)
        assert full.loc[g.index].iloc[:WARMUP_BARS][list(ALL_NAMES)].isna().any(axis=1).all(), sym
    # Interleaving the symbols' rows (sorted by time) gives the same values per row.
    shuffled = bars.sort_values(["timestamp", "symbol"], kind="stable")
    again = compute_features(shuffled).sort_index()
    pd.testing.assert_frame_equal(again, full)


def test_compute_features_rejects_bad_input(bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lack column"):
        compute_features(bars.drop(columns=["volume"]))
    backwards = bars.iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="not strictly increasing"):
        compute_features(backwards)
    with pytest.raises(ValueError, match="non-finite value at position 3"):
        feature_arrays(np.array([1.0, 2.0, 3.0, np.nan]), np.ones(4))


def test_compute_features_names_the_row_of_a_bad_value(bars: pd.DataFrame) -> None:
    broken = bars.copy()
    row = int(broken.index[broken["symbol"] == "BBB"][7])
    broken.loc[row, "close"] = np.nan
    with pytest.raises(ValueError, match=rf"close is nan at row index {row} \(BBB\)"):
        compute_features(broken)


def test_batch_equals_incremental_on_awkward_series() -> None:
    # Flat stretches (RSI 0/100, zero stdev), a jump, tiny and huge prices.
    pieces = [
        np.full(40, 5.0),
        np.full(30, 7.5),
        7.5 + np.arange(30) * 1e-9,
        np.full(25, 1e-4),
        1e6 * np.exp(np.linspace(0, 0.1, 40)),
    ]
    close = np.concatenate(pieces)
    volume = np.arange(close.size, dtype=float) % 7
    batch = feature_arrays(close, volume)
    s = StreamingFeatures()
    inc = np.array([s.update(c, v) for c, v in zip(close, volume, strict=True)])
    np.testing.assert_allclose(inc, batch, rtol=1e-9, atol=0, equal_nan=True)
    assert batch[39, COL["rsi14"]] == 0.0 and batch[39, COL["ret_std20"]] == 0.0
