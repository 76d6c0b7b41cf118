"""Simulator: schema, sessions, determinism and the stylised facts it promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradingmodel.data import BAR_COLUMNS, TIMESTAMP_DTYPE, simulate, validate_bars
from tradingmodel.data.sessions import BARS_PER_SESSION


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return simulate(["AAA", "BBB", "CCC"], 40, seed=11)


@pytest.fixture(scope="module")
def null() -> pd.DataFrame:
    return simulate(["AAA", "BBB", "CCC"], 40, seed=11, null=True)


def _log_returns(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {s: np.diff(np.log(g["close"].to_numpy())) for s, g in df.groupby("symbol")}


def test_schema_and_ohlc_consistency(real: pd.DataFrame) -> None:
    assert list(real.columns[:7]) == list(BAR_COLUMNS)
    assert str(real["timestamp"].dtype) == TIMESTAMP_DTYPE
    assert isinstance(real.index, pd.RangeIndex)
    assert len(real) == 3 * 40 * BARS_PER_SESSION
    o, h, lo, c, v = (real[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (lo <= np.minimum(o, c)).all() and (np.maximum(o, c) <= h).all()
    assert (lo > 0).all() and (v > 0).all() and (v == np.rint(v)).all()
    assert ((real["vwap"] >= real["low"]) & (real["vwap"] <= real["high"])).all()
    # The simulator's own output passes validation unchanged (already sorted, no warning).
    pd.testing.assert_frame_equal(validate_bars(real, sort=False), real)


def test_sessions_weekdays_and_dst() -> None:
    df = simulate(["X"], 5, start="2024-03-07")  # Thu, Fri, (weekend), Mon .. Wed; DST starts Sun 10 March
    ts = df["timestamp"]
    local = ts.dt.tz_convert("America/New_York")
    days = sorted(set(local.dt.date))
    assert [d.isoformat() for d in days] == ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12", "2024-03-13"]
    firsts = ts.groupby(local.dt.date).first()
    assert [t.strftime("%H:%M") for t in firsts] == ["14:30", "14:30", "13:30", "13:30", "13:30"]
    assert (local.dt.strftime("%H:%M").groupby(local.dt.date).last() == "15:59").all()
    assert (ts.diff().dropna()[local.dt.date.diff().dropna().eq(pd.Timedelta(0)).to_numpy()]
            == pd.Timedelta(minutes=1)).all()


def test_deterministic_per_seed() -> None:
    a = simulate(["AAA", "BBB"], 3, seed=5, signal=0.5)
    b = simulate(["AAA", "BBB"], 3, seed=5, signal=0.5)
    c = simulate(["AAA", "BBB"], 3, seed=6, signal=0.5)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])


def test_volume_is_u_shaped(real: pd.DataFrame) -> None:
    minute = real.groupby("symbol").cumcount() % BARS_PER_SESSION
    by_minute = real["volume"].groupby(minute).mean()
    open_, mid, close = by_minute.iloc[:30].mean(), by_minute.iloc[150:240].mean(), by_minute.iloc[-30:].mean()
    assert open_ > 1.5 * mid and close > 1.5 * mid


def test_common_market_factor_correlates_symbols(real: pd.DataFrame, null: pd.DataFrame) -> None:
    for df in (real, null):
        r = _log_returns(df)
        rho = np.corrcoef(r["AAA"], r["BBB"])[0, 1]
        assert 0.2 < rho < 0.9


def test_fat_tails_and_volatility_clustering(real: pd.DataFrame, null: pd.DataFrame) -> None:
    for ret in _log_returns(real).values():
        z = (ret - ret.mean()) / ret.std()
        assert np.mean(z**4) - 3 > 3  # excess kurtosis well above a normal's 0
        a = np.abs(ret)
        assert np.corrcoef(a[:-1], a[1:])[0, 1] > 0.08  # clustering: |r| autocorrelated
    bound = 4 / np.sqrt(len(null) / 3)
    for ret in _log_returns(null).values():
        a = np.abs(ret)
        assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < bound  # null: no clustering


def test_null_mode_is_a_random_walk_with_the_same_volatility(real: pd.DataFrame, null: pd.DataFrame) -> None:
    r_real, r_null = _log_returns(real), _log_returns(null)
    bound = 4 / np.sqrt(len(null) / 3)  # 4 standard errors of a lag-1 autocorrelation
    for s in r_null:
        x = r_null[s]
        for lag in (1, 2, 5):
            assert abs(np.corrcoef(x[:-lag], x[lag:])[0, 1]) < bound
        assert 0.85 < x.std() / r_real[s].std() < 1.15


def test_null_mode_has_no_drift() -> None:
    # Pooled over 8 seeds (independent market paths) x 6 symbols x 22 days, the mean log return in units
    # of each symbol's bar stdev is within 3 standard errors of 0. Symbols share the market factor, so the
    # standard error comes from the per-bar cross-symbol means (independent bars in null mode), not from
    # treating every symbol's bar as independent. One standard error here is ~0.0026 bar stdevs: a drift of
    # 0.02 bar stdevs per bar is ~8 of them (measured: z = 0.54 without, 7.9 with it).
    n_sym, days = 6, 22
    means = []
    for seed in range(1, 9):
        df = simulate([f"S{i}" for i in range(n_sym)], days, seed=seed, null=True)
        r = np.diff(np.log(df["close"].to_numpy()).reshape(n_sym, days * BARS_PER_SESSION), axis=1)
        means.append((r / r.std(axis=1, keepdims=True)).mean(axis=0))  # symbol-major rows (sorted output)
    m = np.concatenate(means)
    z = m.mean() / (m.std(ddof=1) / np.sqrt(len(m)))
    assert abs(z) < 3, f"null mode drifts: mean log return {m.mean():.4f} bar stdevs, {z:.1f} standard errors"


def _direction_accuracy(df: pd.DataFrame) -> float:
    """Share of bars whose next close moves towards the 20-bar SMA (what the planted signal predicts)."""
    hits = total = 0
    for _, g in df.groupby("symbol"):
        c = g["close"].to_numpy()
        sma = pd.Series(c).rolling(20).mean().to_numpy()
        gap = (sma - c)[:-1]
        move = np.diff(c)
        ok = ~np.isnan(gap) & (move != 0)
        hits += int(np.sum(np.sign(gap[ok]) == np.sign(move[ok])))
        total += int(ok.sum())
    return hits / total


def test_signal_is_weak_but_learnable(null: pd.DataFrame) -> None:
    acc1 = _direction_accuracy(simulate(["AAA", "BBB", "CCC"], 40, seed=11, signal=1.0))
    acc0 = _direction_accuracy(simulate(["AAA", "BBB", "CCC"], 40, seed=11, signal=0.0))
    accn = _direction_accuracy(null)
    assert 0.54 < acc1 < 0.62, acc1
    assert abs(acc0 - 0.5) < 0.01 and abs(accn - 0.5) < 0.01, (acc0, accn)


def test_symbol_draws_do_not_depend_on_the_other_symbols() -> None:
    # The market factor is shared; idiosyncratic draws are per symbol, so the price path of AAA
    # is identical whether or not BBB is simulated too.
    a = simulate(["AAA"], 2, seed=3)
    ab = simulate(["BBB", "AAA"], 2, seed=3)
    pd.testing.assert_frame_equal(ab[ab["symbol"] == "AAA"].reset_index(drop=True), a)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(symbols=[], days=1), "at least one"),
        (dict(symbols=["A", "a"], days=1), "duplicate"),
        (dict(symbols=["A"], days=0), "days"),
        (dict(symbols=["A"], days=1, signal=1.5), "signal"),
        (dict(symbols=["A"], days=1, signal=0.5, null=True), "null"),
        (dict(symbols=["A"], days=1, seed=-1), "seed"),
        (dict(symbols=["A"], days=1, start="someday"), "not a date"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(**kwargs)


def test_fast_enough_for_a_year_of_twenty_symbols() -> None:
    import time

    simulate(["A"], 1)  # compile / load the numba cache first
    t0 = time.perf_counter()
    df = simulate([f"S{i:02d}" for i in range(20)], 250)
    elapsed = time.perf_counter() - t0
    # 250 NYSE sessions from 2024-01-02 include three early closes (07-03, 11-29, 12-24: 210 bars each)
    assert len(df) == 20 * (250 * BARS_PER_SESSION - 3 * (BARS_PER_SESSION - 210))
    assert elapsed < 15, f"20 symbols x 250 days took {elapsed:.1f}s"
