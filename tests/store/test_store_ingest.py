"""Ingestion: idempotent, corrections replace, atomic batches, exact round trips, both write paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from tradingmodel.data import BarValidationError, simulate
from tradingmodel.store import (
    StoreError,
    fetched_ranges,
    ingest_bars,
    load_bars,
    mark_fetched,
)

from .helpers import count_bars, install_fail_trigger

COLS = ["symbol", "timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions"]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return simulate(["AAA", "BBB"], 2)  # 1,560 one-minute bars


def _stored(engine: Engine, **kw: object) -> pd.DataFrame:
    return load_bars(engine, None, **kw)[COLS]


def test_round_trip_is_exact(engine: Engine, bars: pd.DataFrame) -> None:
    stats = ingest_bars(engine, bars, batch_size=500)
    assert (stats.rows, stats.inserted, stats.updated, stats.unchanged) == (len(bars), len(bars), 0, 0)
    pd.testing.assert_frame_equal(_stored(engine), bars[COLS], check_dtype=True)


def test_reimport_changes_nothing(engine: Engine, bars: pd.DataFrame) -> None:
    ingest_bars(engine, bars)
    before = _stored(engine)
    stats = ingest_bars(engine, bars, batch_size=700)
    assert (stats.inserted, stats.updated, stats.unchanged) == (0, 0, len(bars))
    assert count_bars(engine) == len(bars)
    pd.testing.assert_frame_equal(_stored(engine), before)


def test_corrected_bars_replace_old_ones(engine: Engine, bars: pd.DataFrame) -> None:
    ingest_bars(engine, bars)
    fixed = bars.copy()
    rows = [3, 800, 1500]
    fixed.loc[rows, "close"] = fixed.loc[rows, "low"]
    fixed.loc[rows, "volume"] += 1000
    fixed.loc[1500, "vwap"] = np.nan  # a value that disappears is a correction too
    stats = ingest_bars(engine, fixed, batch_size=400)
    assert (stats.inserted, stats.updated, stats.unchanged) == (0, 3, len(bars) - 3)
    pd.testing.assert_frame_equal(_stored(engine), fixed[COLS])


def test_mixed_new_changed_and_unchanged(engine: Engine, bars: pd.DataFrame) -> None:
    ingest_bars(engine, bars.iloc[:1000])
    more = bars.copy()
    more.loc[10, "high"] += 1.0
    stats = ingest_bars(engine, more, batch_size=300)
    assert (stats.inserted, stats.updated, stats.unchanged) == (560, 1, 999)
    pd.testing.assert_frame_equal(_stored(engine), more[COLS])


def test_nulls_and_symbols_of_different_lengths(engine: Engine) -> None:
    b = pd.concat([simulate(["A"], 1), simulate(["LONGSYMBOL.X"], 1, seed=3)], ignore_index=True)
    b.loc[::3, "vwap"] = np.nan
    b.loc[::4, "transactions"] = np.nan
    b.loc[5, "volume"] = 2.0**40  # beyond 32 bits
    ingest_bars(engine, b)
    got = _stored(engine)
    pd.testing.assert_frame_equal(got, b[COLS])
    assert got["vwap"].isna().sum() == b["vwap"].isna().sum() > 0


def test_symbols_with_odd_characters_on_every_write_path(engine: Engine) -> None:
    # Binary COPY (fresh), staging table + merge, and the text COPY of the indicators path must not mangle
    # characters that CSV/text COPY would escape: quotes, backslash, comma, tab, pipe, non-ASCII.
    syms = ["BRK.B", "BRK/B", "A'B", 'A"B', "A\\B", "A\\NB", "A,B", "A\tB", "A|B", "ÄBC", "€UR"]
    ts = pd.date_range("2024-01-02 14:30", periods=3, freq="1min", tz="UTC")
    b = pd.DataFrame(
        {
            "symbol": np.repeat(syms, 3),
            "timestamp": np.tile(ts, len(syms)),
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": np.tile([10.0, 10.1, 10.2], len(syms)),
            "volume": 5.0,
        }
    )
    b = b.sort_values(["symbol", "timestamp"], ignore_index=True)
    assert ingest_bars(engine, b).inserted == len(b)  # fresh path
    assert ingest_bars(engine, b).unchanged == len(b)
    b["close"] += 0.5
    assert ingest_bars(engine, b).updated == len(b)  # merge path
    b["indicators"] = [{"k": i} for i in range(len(b))]
    assert ingest_bars(engine, b).updated == len(b)  # indicators: text COPY on PostgreSQL
    got = load_bars(engine, None, indicators=True)
    assert sorted(got["symbol"].unique()) == sorted(syms)
    pd.testing.assert_frame_equal(got[b.columns.drop("indicators")], b.drop(columns="indicators"))
    assert got["indicators"].tolist() == b["indicators"].tolist()
    for s in syms:
        assert len(load_bars(engine, s)) == 3, s


def test_fractional_volume_is_rounded_to_whole_shares(engine: Engine, bars: pd.DataFrame) -> None:
    b = bars.iloc[:6].copy()
    b["volume"] = [0.4, 1.5, 2.5, 3.5, 100.49, 7.0]
    assert ingest_bars(engine, b).inserted == 6
    assert _stored(engine)["volume"].tolist() == [0.0, 2.0, 2.0, 4.0, 100.0, 7.0]  # ties to even
    assert ingest_bars(engine, b).unchanged == 6  # the same fractional input again changes nothing
    with pytest.raises(StoreError, match="row 2: volume 9.3e\\+18 cannot be stored as a non-negative BIGINT"):
        ingest_bars(engine, b.assign(volume=[1.0, 9.3e18, 1.0, 1.0, 1.0, 1.0]))


def test_optional_columns_may_be_absent(engine: Engine, bars: pd.DataFrame) -> None:
    plain = bars.drop(columns=["vwap", "transactions"])
    ingest_bars(engine, plain)
    got = _stored(engine)
    assert got["vwap"].isna().all() and got["transactions"].isna().all()
    pd.testing.assert_frame_equal(got[plain.columns.tolist()], plain)


def test_time_zones_round_trip(engine: Engine, bars: pd.DataFrame) -> None:
    local = bars.copy()
    local["timestamp"] = local["timestamp"].dt.tz_convert("America/New_York")
    ingest_bars(engine, local)
    got = _stored(engine)
    assert str(got["timestamp"].dt.tz) == "UTC"
    assert got["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")  # 09:30 New York
    pd.testing.assert_series_equal(got["timestamp"], bars["timestamp"])
    # the database itself holds the UTC instant, not the New York wall clock
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            raw = conn.execute(
                text("SELECT to_char(min(timestamp) AT TIME ZONE 'UTC', 'HH24:MI') FROM market_data")
            ).scalar_one()
        else:
            raw = conn.execute(text("SELECT substr(min(timestamp), 12, 5) FROM market_data")).scalar_one()
    assert raw == "14:30"
    # a range given in another zone selects the same instants
    eastern = load_bars(engine, "AAA", "2024-01-02 09:30-05:00", "2024-01-02 10:30-05:00")
    assert len(eastern) == 60 and eastern["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_indicators_json_round_trip(engine: Engine, bars: pd.DataFrame) -> None:
    b = bars.iloc[:50].copy()
    b["indicators"] = [
        {"sma20": float(i) + 0.125, "rsi14": None if i < 14 else 55.5, "tags": ["x", i], "nested": {"ok": i % 2 == 0}}
        for i in range(50)
    ]
    b.loc[0, "indicators"]["bad"] = float("nan")  # not JSON: stored as null
    b.loc[0, "indicators"]["nested"] = {"x": [np.float64("inf"), np.int64(3)]}
    ingest_bars(engine, b)
    got = load_bars(engine, "AAA", indicators=True)
    assert got["indicators"].iloc[7] == {"sma20": 7.125, "rsi14": None, "tags": ["x", 7], "nested": {"ok": False}}
    assert got["indicators"].iloc[0]["bad"] is None and got["indicators"].iloc[0]["nested"] == {"x": [None, 3]}
    assert got["indicators"].iloc[20]["rsi14"] == 55.5
    if engine.dialect.name == "postgresql":  # stored as JSONB, queryable by key
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM market_data WHERE (indicators->>'rsi14')::float8 = 55.5"))
            assert n.scalar_one() == 36
    # same indicators again: unchanged; different indicators: updated
    assert ingest_bars(engine, b).unchanged == 50
    b["indicators"] = [*b["indicators"].iloc[:49], {"sma20": 1.0}]
    assert ingest_bars(engine, b).updated == 1
    assert load_bars(engine, "AAA", indicators=True)["indicators"].iloc[49] == {"sma20": 1.0}


def test_bad_indicators_name_the_row(engine: Engine, bars: pd.DataFrame) -> None:
    b = bars.iloc[:5].copy()
    b["indicators"] = [{}, {}, "not json", {}, {}]
    with pytest.raises(StoreError, match="row 3: indicators is not valid JSON"):
        ingest_bars(engine, b)
    assert count_bars(engine) == 0


def test_invalid_bars_store_nothing(engine: Engine, bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad.loc[1200, "high"] = bad.loc[1200, "low"] - 1
    with pytest.raises(BarValidationError, match="row 1201"):
        ingest_bars(engine, bad, batch_size=100)
    assert count_bars(engine) == 0


def test_bad_arguments(engine: Engine, bars: pd.DataFrame) -> None:
    with pytest.raises(StoreError, match="bad timeframe"):
        ingest_bars(engine, bars, timeframe="1 minute")
    with pytest.raises(StoreError, match="batch_size"):
        ingest_bars(engine, bars, batch_size=0)
    long = bars.iloc[:3].assign(symbol="X" * 40)
    with pytest.raises(StoreError, match="longer than 32"):
        ingest_bars(engine, long)


def test_timeframes_are_separate(engine: Engine, bars: pd.DataFrame) -> None:
    ingest_bars(engine, bars, timeframe="1m")
    five = bars.iloc[::5].reset_index(drop=True)
    assert ingest_bars(engine, five, timeframe="5m").inserted == len(five)
    assert len(load_bars(engine, None, timeframe="5m")) == len(five)
    assert len(load_bars(engine, None, timeframe="1m")) == len(bars)


@pytest.mark.parametrize("path", ["fresh", "merge"])
def test_a_failing_batch_leaves_nothing(engine: Engine, path: str) -> None:
    aaa, fail = simulate(["AAA"], 1), simulate(["FAIL"], 1)  # 390 bars each
    if path == "merge":  # bars 300.. already stored with other closes: the failing batch must not touch them
        old = aaa.iloc[300:].copy()
        old["close"] = old["low"]
        ingest_bars(engine, old)
    install_fail_trigger(engine, "FAIL")
    both = pd.concat([aaa, fail], ignore_index=True)
    with pytest.raises(Exception, match="tm_test_fail"):
        ingest_bars(engine, both, batch_size=300)  # batch 1: AAA[:300]; batch 2: AAA[300:] + FAIL[:210]
    got = load_bars(engine, "AAA")
    assert count_bars(engine, "FAIL") == 0
    assert len(got) == 390 if path == "merge" else len(got) == 300
    pd.testing.assert_frame_equal(got.iloc[:300], aaa.iloc[:300][got.columns])
    if path == "merge":
        assert (got["close"].iloc[300:].to_numpy() == aaa["low"].iloc[300:].to_numpy()).all()


def test_ingest_and_mark_fetched_share_one_transaction(engine: Engine, bars: pd.DataFrame) -> None:
    start, end = bars["timestamp"].iloc[0], bars["timestamp"].iloc[-1]
    install_fail_trigger(engine, "FAIL")
    failing = pd.concat([bars, simulate(["FAIL"], 1)], ignore_index=True)
    with pytest.raises(Exception, match="tm_test_fail"), engine.begin() as conn:
        ingest_bars(conn, failing, batch_size=500)
        mark_fetched(conn, "AAA", "1m", start, end)
    assert count_bars(engine) == 0 and fetched_ranges(engine, "AAA", "1m") == []
    with engine.begin() as conn:
        stats = ingest_bars(conn, bars, batch_size=500)
        mark_fetched(conn, "AAA", "1m", start, end)
    assert stats.inserted == len(bars) == count_bars(engine)
    assert fetched_ranges(engine, "AAA", "1m") == [(start.to_pydatetime(), end.to_pydatetime())]


def test_progress_bar_runs(engine: Engine, bars: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    ingest_bars(engine, bars, batch_size=500, progress=True)
    assert "1560/1560" in capsys.readouterr().err


def test_empty_and_unsorted_input(engine: Engine, bars: pd.DataFrame) -> None:
    empty = ingest_bars(engine, bars.iloc[:0])
    assert (empty.rows, empty.inserted) == (0, 0) and count_bars(engine) == 0
    shuffled = bars.sample(frac=1.0, random_state=1)
    with pytest.warns(UserWarning, match="out of \\(symbol, timestamp\\) order"):
        stats = ingest_bars(engine, shuffled)
    assert stats.inserted == len(bars)
    pd.testing.assert_frame_equal(_stored(engine), bars[COLS])


def test_many_symbols_of_daily_bars(engine: Engine) -> None:
    days = pd.date_range("2024-01-02", periods=3, freq="D", tz="UTC")
    syms = [f"T{i:04d}" for i in range(400)]
    b = pd.DataFrame(
        {
            "symbol": np.repeat(syms, 3),
            "timestamp": np.tile(days, 400),
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": np.linspace(9.5, 10.5, 1200),
            "volume": 1e6,
        }
    )
    assert ingest_bars(engine, b, timeframe="1d", batch_size=500).inserted == 1200
    b.loc[::7, "close"] = 10.75
    stats = ingest_bars(engine, b, timeframe="1d", batch_size=500)
    assert (stats.updated, stats.unchanged) == (172, 1028)
    got = load_bars(engine, None, timeframe="1d")
    assert len(got) == 1200 and got["close"].tolist() == b["close"].tolist()
