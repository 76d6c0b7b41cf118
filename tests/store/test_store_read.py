"""Reading bars back: filters, ranges, chunked streaming, coverage, and the CLI loader's errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from tests.conftest import require
from tradingmodel.data import simulate
from tradingmodel.store import (
    StoreError,
    bar_coverage,
    ingest_bars,
    iter_bars,
    list_symbols,
    load_bars,
    load_bars_checked,
)


@pytest.fixture
def stored(engine: Engine) -> pd.DataFrame:
    bars = simulate(["MSFT", "AAPL", "IBM"], 3)  # 2024-01-02 .. 2024-01-04, 1,170 bars each
    ingest_bars(engine, bars)
    return bars


def test_filters_by_symbol_and_half_open_range(engine: Engine, stored: pd.DataFrame) -> None:
    got = load_bars(engine, ["IBM", "AAPL"], "2024-01-03 14:30", datetime(2024, 1, 3, 15, 0, tzinfo=UTC))
    assert got["symbol"].tolist() == ["AAPL"] * 30 + ["IBM"] * 30  # sorted by (symbol, timestamp)
    assert got["timestamp"].iloc[0] == pd.Timestamp("2024-01-03 14:30", tz="UTC")  # start included
    assert got["timestamp"].iloc[29] == pd.Timestamp("2024-01-03 14:59", tz="UTC")  # end excluded
    want = stored[(stored.symbol == "AAPL") & (stored.timestamp >= "2024-01-03 14:30Z")].iloc[:30]
    pd.testing.assert_frame_equal(got.iloc[:30], want.reset_index(drop=True))


def test_single_symbol_string_and_empty_result(engine: Engine, stored: pd.DataFrame) -> None:
    assert len(load_bars(engine, "MSFT")) == 1170
    assert len(load_bars(engine, [" msft"])) == 1170  # stored symbols are upper case
    empty = load_bars(engine, "MSFT", "2030-01-01")
    assert empty.empty and list(empty.columns)[:7] == ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
    assert str(empty["timestamp"].dtype) == "datetime64[us, UTC]"


def test_iter_bars_streams_bounded_chunks(engine: Engine, stored: pd.DataFrame) -> None:
    chunks = list(iter_bars(engine, None, chunk_rows=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 1000, 510]
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, load_bars(engine, None))
    pd.testing.assert_frame_equal(whole[stored.columns], stored.sort_values(["symbol", "timestamp"], ignore_index=True))


def test_symbols_and_coverage(engine: Engine, stored: pd.DataFrame) -> None:
    assert list_symbols(engine) == ["AAPL", "IBM", "MSFT"]
    assert list_symbols(engine, "5m") == []
    first, last, n = bar_coverage(engine, "IBM", "1m")
    assert (first, last, n) == (
        datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        datetime(2024, 1, 4, 20, 59, tzinfo=UTC),
        1170,
    )
    assert bar_coverage(engine, "NOPE", "1m") is None


def test_cli_loader(db_url: str, engine: Engine, stored: pd.DataFrame) -> None:
    day = load_bars_checked(["AAPL"], "2024-01-03", "2024-01-03", url=db_url)  # --to date: whole day
    assert len(day) == 390 and day["timestamp"].dt.date.unique().tolist() == [date(2024, 1, 3)]
    assert len(load_bars_checked(["AAPL", "IBM"], None, None, url=db_url)) == 2340
    assert len(load_bars_checked(None, "2024-01-04", None, url=db_url)) == 3 * 390
    # A date in any spelling includes that day; a time (even midnight) is an exclusive bound.
    for to in ("2024-1-3", "20240103", "Jan 3 2024", date(2024, 1, 3)):
        assert len(load_bars_checked(["AAPL"], "2024-01-03", to, url=db_url)) == 390, to
    assert len(load_bars_checked(["AAPL"], "2024-01-03", "2024-01-03T14:35", url=db_url)) == 5
    with pytest.raises(StoreError, match="is not after --from"):
        load_bars_checked(["AAPL"], "2024-01-03", "2024-01-03T00:00", url=db_url)


def test_cli_loader_dates_are_utc_days(db_url: str, engine: Engine) -> None:
    # docs/storage.md: a --from/--to date is a UTC day, which holds the whole regular session of the same
    # New York date (winter and summer); only winter after-market 19:00-20:00 New York moves to the next day.
    ny = [
        "2024-01-04 19:30",
        "2024-01-05 04:00",
        "2024-01-05 09:30",
        "2024-01-05 15:59",
        "2024-01-05 19:30",
        "2024-07-05 09:30",
        "2024-07-05 15:59",
        "2024-07-05 19:59",
    ]
    ts = pd.DatetimeIndex(ny).tz_localize("America/New_York").tz_convert("UTC")
    ingest_bars(
        engine,
        pd.DataFrame(
            {"symbol": "AAA", "timestamp": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
        ),
    )

    def local(day: str) -> list[str]:
        got = load_bars_checked(["AAA"], day, day, url=db_url)["timestamp"].dt.tz_convert("America/New_York")
        return got.dt.strftime("%Y-%m-%d %H:%M").tolist()

    assert local("2024-01-05") == ["2024-01-04 19:30", "2024-01-05 04:00", "2024-01-05 09:30", "2024-01-05 15:59"]
    assert local("2024-07-05") == ["2024-07-05 09:30", "2024-07-05 15:59", "2024-07-05 19:59"]


def test_cli_loader_errors(db_url: str, engine: Engine, stored: pd.DataFrame) -> None:
    with pytest.raises(StoreError, match=r"unknown symbol\(s\) TSLA: no 1m bars stored \(stored: AAPL, IBM, MSFT\)"):
        load_bars_checked(["AAPL", "TSLA"], None, None, url=db_url)
    with pytest.raises(StoreError, match="no 1m bars for IBM between 2025-01-01.*stored: IBM: 2024-01-02T14:30"):
        load_bars_checked(["IBM"], "2025-01-01", "2025-02-01", url=db_url)
    with pytest.raises(StoreError, match="is not after --from"):
        load_bars_checked(["IBM"], "2024-01-04", "2024-01-02", url=db_url)
    with pytest.raises(StoreError, match="cannot parse 'yesterday'"):
        load_bars_checked(["IBM"], "yesterday", None, url=db_url)
    with pytest.raises(StoreError, match="no 5m bars"):
        load_bars_checked(["IBM"], None, None, timeframe="5m", url=db_url)


def test_symbols_sort_by_code_point_whatever_the_server_collation(engine: Engine) -> None:
    # On a PostgreSQL server whose collation is e.g. en-US, ORDER BY symbol puts "ÄBC" before "B"; the bars
    # convention (validate_bars, SQLite, Python) sorts by code point, and the order must not depend on
    # whether symbols or indicators were asked for.
    ts = pd.date_range("2024-01-02 14:30", periods=2, freq="1min", tz="UTC")
    bars = pd.DataFrame(
        {
            "symbol": ["B", "B", "ÄBC", "ÄBC"],
            "timestamp": [*ts, *ts],
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1.0,
        }
    )
    icu = engine.dialect.name == "postgresql"
    if icu:
        with engine.begin() as conn:
            has_icu = conn.execute(text("SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'")).first()
            require(has_icu is not None, "PostgreSQL with ICU collations (en-US-x-icu)")
            conn.exec_driver_sql('ALTER TABLE market_data ALTER COLUMN symbol TYPE varchar(32) COLLATE "en-US-x-icu"')
    try:
        ingest_bars(engine, bars)
        assert list_symbols(engine) == ["B", "ÄBC"]
        for symbols in (None, ["ÄBC", "B"]):
            for indicators in (False, True):
                got = load_bars(engine, symbols, indicators=indicators)
                assert got["symbol"].tolist() == bars["symbol"].tolist(), (symbols, indicators)
    finally:
        if icu:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE market_data")
                conn.exec_driver_sql('ALTER TABLE market_data ALTER COLUMN symbol TYPE varchar(32) COLLATE "default"')


def test_stopping_a_stream_early_leaves_the_connection_usable(engine: Engine, stored: pd.DataFrame) -> None:
    stream = iter_bars(engine, None, chunk_rows=500)
    assert len(next(stream)) == 500
    stream.close()
    assert len(load_bars(engine, None)) == len(stored)
    with engine.connect() as conn:
        stream = iter_bars(conn, ["IBM"], chunk_rows=100)
        first = next(stream)
        stream.close()
        assert first["symbol"].unique().tolist() == ["IBM"]
        assert len(load_bars(conn, "IBM", "2024-01-03", "2024-01-04")) == 390
