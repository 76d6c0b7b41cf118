"""Bar files: every validation error on a crafted file, sorting, atomic writes, CSV <-> Parquet."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradingmodel.data import (
    BarsSortedWarning,
    BarValidationError,
    read_bar_file,
    simulate,
    validate_bars,
    write_bars,
)
from tradingmodel.data.sessions import last_bar_of_session

HEADER = "symbol,timestamp,open,high,low,close,volume"
GOOD = [
    "AAA,2024-01-02T14:30:00+00:00,10.0,10.5,9.5,10.2,100",
    "AAA,2024-01-02T14:31:00+00:00,10.2,10.6,10.1,10.4,120",
    "AAA,2024-01-02T14:32:00+00:00,10.4,10.4,10.0,10.1,90",
    "BBB,2024-01-02T14:30:00+00:00,20.0,20.5,19.5,20.2,300",
    "BBB,2024-01-02T14:31:00+00:00,20.2,20.6,20.1,20.4,0",
]


def _csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def _replace(row: int, new: str) -> list[str]:
    rows = list(GOOD)
    rows[row - 1] = new
    return rows


def test_good_file_reads_into_canonical_form(tmp_path: Path) -> None:
    df = read_bar_file(_csv(tmp_path, GOOD))
    assert list(df.columns) == ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]"
    assert all(df[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))
    assert df["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert df["close"].tolist() == [10.2, 10.4, 10.1, 20.2, 20.4]


@pytest.mark.parametrize(
    ("rows", "header", "row", "reason"),
    [
        (GOOD, "symbol,timestamp,open,high,low,volume", None, "missing column(s): close"),
        (_replace(2, "AAA,2024-01-02T14:31:00+00:00,10.2,10.6,10.1,,120"), HEADER, 2, "close is missing"),
        (_replace(3, "AAA,2024-01-02T14:32:00+00:00,NaN,10.4,10.0,10.1,90"), HEADER, 3, "open is missing"),
        (_replace(3, "AAA,2024-01-02T14:32:00+00:00,10.4,10.4,abc,10.1,90"), HEADER, 3, "low is not a number"),
        (_replace(4, "BBB,2024-01-02T14:30:00+00:00,0,20.5,19.5,20.2,300"), HEADER, 4, "open must be positive"),
        (_replace(4, "BBB,2024-01-02T14:30:00+00:00,20,20.5,-1,20.2,300"), HEADER, 4, "low must be positive"),
        (_replace(5, "BBB,2024-01-02T14:31:00+00:00,20.2,20.6,20.1,20.4,-5"), HEADER, 5, "volume is negative"),
        (
            _replace(2, "AAA,2024-01-02T14:31:00+00:00,10.2,10.0,10.3,10.2,120"),
            HEADER,
            2,
            "high 10.0 is below low 10.3",
        ),
        (
            _replace(2, "AAA,2024-01-02T14:31:00+00:00,10.7,10.6,10.1,10.4,120"),
            HEADER,
            2,
            "OHLC inconsistent: open 10.7 is above high 10.6",
        ),
        (
            _replace(2, "AAA,2024-01-02T14:31:00+00:00,10.2,10.6,10.1,10.0,120"),
            HEADER,
            2,
            "OHLC inconsistent: close 10.0 is below low 10.1",
        ),
        (
            _replace(3, "AAA,2024-01-02T14:31:00+00:00,10.4,10.4,10.0,10.1,90"),
            HEADER,
            3,
            "duplicate timestamp 2024-01-02T14:31:00+00:00 for AAA (same as row 2)",
        ),
        (_replace(2, "AAA,2024-01-02T14:31:00,10.2,10.6,10.1,10.4,120"), HEADER, 2, "has no UTC offset"),
        # A date alone has no offset either (its "-02" day must not pass for a UTC offset).
        (_replace(2, "AAA,2024-01-03,10.2,10.6,10.1,10.4,120"), HEADER, 2, "has no UTC offset"),
        (_replace(2, "AAA,2024-01,10.2,10.6,10.1,10.4,120"), HEADER, 2, "has no UTC offset"),
        (_replace(2, "AAA,2024-13-45T14:31:00+00:00,10.2,10.6,10.1,10.4,120"), HEADER, 2, "not a valid ISO 8601"),
        (_replace(2, "AAA,1704205860,10.2,10.6,10.1,10.4,120"), HEADER, 2, "looks like epoch seconds"),
        (_replace(2, "AAA,1704205860000000000,10.2,10.6,10.1,10.4,120"), HEADER, 2, "is after 2100"),
        (_replace(2, "AAA,99999999999999999999999,10.2,10.6,10.1,10.4,120"), HEADER, 2, "is after 2100"),
        (_replace(1, ",2024-01-02T14:30:00+00:00,10.0,10.5,9.5,10.2,100"), HEADER, 1, "symbol is missing"),
        (_replace(1, "AAA,,10.0,10.5,9.5,10.2,100"), HEADER, 1, "timestamp is missing"),
    ],
)
def test_each_validation_error_names_file_row_and_reason(
    tmp_path: Path, rows: list[str], header: str, row: int | None, reason: str
) -> None:
    p = _csv(tmp_path, rows, header)
    with pytest.raises(BarValidationError) as info:
        read_bar_file(p)
    e = info.value
    assert e.source == str(p)
    assert e.row == row
    assert reason in e.reason
    assert str(p) in str(e) and reason in str(e)
    if row is not None:
        assert f"row {row}:" in str(e)


def test_header_case_does_not_change_how_values_are_read(tmp_path: Path) -> None:
    # Column names match case-insensitively; a capitalised header must still read symbols as text
    # (not "0700" -> 700) and blank prices as missing.
    rows = ["0700,2024-01-02T14:30:00+00:00,10.0,10.5,9.5,10.2,100", "0700,2024-01-02T14:31:00+00:00,NaN,1,1,1,1"]
    header = "Symbol,TimeStamp, Open,High,Low,Close,Volume"
    assert read_bar_file(_csv(tmp_path, rows[:1], header))["symbol"].tolist() == ["0700"]
    with pytest.raises(BarValidationError, match="row 2: open is missing"):
        read_bar_file(_csv(tmp_path, rows, header))


def test_error_counts_further_bad_rows(tmp_path: Path) -> None:
    rows = [r.replace(",100", ",-1").replace(",120", ",-2") for r in GOOD]
    with pytest.raises(BarValidationError, match=r"row 1: volume is negative: -1.0 \(and 1 more row\)"):
        read_bar_file(_csv(tmp_path, rows))


def test_out_of_order_is_sorted_with_a_warning_or_rejected(tmp_path: Path) -> None:
    rows = [GOOD[3], GOOD[1], GOOD[0], GOOD[2], GOOD[4]]  # BBB first, AAA rows swapped
    p = _csv(tmp_path, rows)
    with pytest.warns(BarsSortedWarning, match=r"3 of 5 rows were out of \(symbol, timestamp\) order") as seen:
        df = read_bar_file(p)
    assert len(seen) == 1  # one warning, no second copy through logging
    pd.testing.assert_frame_equal(df, read_bar_file(_csv(tmp_path, GOOD, name="good.csv")))

    with pytest.raises(BarValidationError) as info:
        read_bar_file(p, sort=False)
    assert info.value.row == 2 and "symbol AAA comes after BBB" in info.value.reason

    swapped = [GOOD[1], GOOD[0], *GOOD[2:]]
    with pytest.raises(BarValidationError) as info:
        read_bar_file(_csv(tmp_path, swapped, name="swapped.csv"), sort=False)
    assert info.value.row == 2 and "is before the previous row's" in info.value.reason


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bars file not found"):
        read_bar_file(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="unknown bar file type"):
        read_bar_file(tmp_path / "bars.txt")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(BarValidationError, match="empty.csv: file is empty"):
        read_bar_file(tmp_path / "empty.csv")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(BarValidationError, match="junk.parquet: not a readable Parquet file"):
        read_bar_file(tmp_path / "junk.parquet")
    header_only = read_bar_file(_csv(tmp_path, [], name="header.csv"))
    assert header_only.empty and list(header_only.columns)[:2] == ["symbol", "timestamp"]


def test_epoch_milliseconds_equal_iso_timestamps(tmp_path: Path) -> None:
    iso = read_bar_file(_csv(tmp_path, GOOD, name="iso.csv"))
    ms_rows = []
    for r in GOOD:
        parts = r.split(",")
        parts[1] = str(pd.Timestamp(parts[1]).value // 1_000_000)
        ms_rows.append(",".join(parts))
    pd.testing.assert_frame_equal(read_bar_file(_csv(tmp_path, ms_rows, name="ms.csv")), iso)
    # Offsets other than UTC are converted: 09:30-05:00 is 14:30Z.
    ny = _replace(1, "AAA,2024-01-02T09:30:00-05:00,10.0,10.5,9.5,10.2,100")
    pd.testing.assert_frame_equal(read_bar_file(_csv(tmp_path, ny, name="ny.csv")), iso)


def test_round_trip_csv_parquet(tmp_path: Path) -> None:
    bars = simulate(["AAA", "BBB"], 2, seed=3)
    write_bars(bars, tmp_path / "a.csv")
    from_csv = read_bar_file(tmp_path / "a.csv")
    pd.testing.assert_frame_equal(from_csv, bars)  # exact: floats are written in round-trip form
    write_bars(from_csv, tmp_path / "b.parquet")
    from_parquet = read_bar_file(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(from_parquet, bars)
    write_bars(from_parquet, tmp_path / "c.csv.gz")
    pd.testing.assert_frame_equal(read_bar_file(tmp_path / "c.csv.gz"), bars)


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    good = simulate(["AAA"], 1)
    target = tmp_path / "bars.parquet"
    write_bars(good, target)
    before = target.read_bytes()
    bad = good.copy()
    bad.loc[5, "high"] = bad.loc[5, "low"] - 1
    with pytest.raises(BarValidationError, match="row 6: high"):
        write_bars(bad, target)
    with pytest.raises(BarValidationError):
        write_bars(bad, tmp_path / "new.csv")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["bars.parquet"]  # no temp file, no new.csv


def test_validate_normalises_a_frame() -> None:
    df = pd.DataFrame(
        {
            "Symbol": [" aaa", "aaa"],
            "timestamp": [1704205800000, 1704205860000],
            "open": [1, 2],
            "high": [2, 3],
            "low": [1, 1],
            "close": [2, 2],
            "volume": [5, 6],
            "extra": [0, 0],
        }
    )
    out = validate_bars(df)
    assert out["symbol"].tolist() == ["AAA", "AAA"]
    assert "extra" not in out.columns and out["open"].dtype == np.float64
    naive = df.assign(timestamp=pd.to_datetime(df["timestamp"], unit="ms"))
    with pytest.raises(BarValidationError, match="no time zone"):
        validate_bars(naive, "frame")


def test_last_bar_of_session() -> None:
    ts = simulate(["X"], 3, start="2024-03-08")["timestamp"]
    flags = last_bar_of_session(ts)
    assert flags.dtype == bool and np.flatnonzero(flags).tolist() == [389, 779, 1169]
    assert last_bar_of_session(pd.DatetimeIndex(ts)).tolist() == flags.tolist()
    # A partial session (bars missing at the end) still ends on its last bar.
    assert np.flatnonzero(last_bar_of_session(ts.iloc[:500])).tolist() == [389, 499]
    # 23:30 UTC is still the same New York date as 14:30 UTC; 00:30 UTC next day too (19:30 NY). The 14:30
    # bar is the last one inside the NYSE session (the later ones are after-hours), so it ends the session.
    odd = pd.Series(
        pd.to_datetime(["2024-01-02T14:30Z", "2024-01-02T23:30Z", "2024-01-03T00:30Z", "2024-01-03T14:30Z"], utc=True)
    )
    assert last_bar_of_session(odd).tolist() == [True, False, True, True]
    # An early close (2024-07-03, 13:00 New York) ends the session at its 12:59 bar.
    early = simulate(["X"], 2, start="2024-07-03")["timestamp"]
    assert np.flatnonzero(last_bar_of_session(early)).tolist() == [209, 599]


def test_parquet_timestamp_forms(tmp_path: Path) -> None:
    iso = read_bar_file(_csv(tmp_path, GOOD))
    as_ms = iso.assign(timestamp=iso["timestamp"].astype("int64") // 1000)  # us -> epoch ms
    as_ms.to_parquet(tmp_path / "ms.parquet")
    pd.testing.assert_frame_equal(read_bar_file(tmp_path / "ms.parquet"), iso)
    ny = iso.assign(timestamp=iso["timestamp"].dt.tz_convert("America/New_York"))
    ny.to_parquet(tmp_path / "ny.parquet")
    pd.testing.assert_frame_equal(read_bar_file(tmp_path / "ny.parquet"), iso)
    iso.assign(timestamp=iso["timestamp"].dt.tz_localize(None)).to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(BarValidationError, match="naive.parquet: row 1: timestamp has no time zone"):
        read_bar_file(tmp_path / "naive.parquet")


def test_mixed_epoch_and_iso_rows(tmp_path: Path) -> None:
    rows = list(GOOD)
    rows[1] = rows[1].replace("2024-01-02T14:31:00+00:00", str(pd.Timestamp("2024-01-02T14:31Z").value // 10**6))
    pd.testing.assert_frame_equal(
        read_bar_file(_csv(tmp_path, rows, name="mixed.csv")), read_bar_file(_csv(tmp_path, GOOD))
    )


@pytest.mark.parametrize(
    ("extra_header", "extra_values", "reason"),
    [
        ("vwap", ["10.1", "0", "10.2", "20.1", "20.3"], "row 2: vwap must be positive"),
        ("transactions", ["5", "6", "-1", "8", "9"], "row 3: transactions is negative"),
    ],
)
def test_optional_columns_are_checked(tmp_path: Path, extra_header: str, extra_values: list[str], reason: str) -> None:
    rows = [f"{r},{x}" for r, x in zip(GOOD, extra_values, strict=True)]
    with pytest.raises(BarValidationError, match=reason):
        read_bar_file(_csv(tmp_path, rows, header=f"{HEADER},{extra_header}"))
    blank = [f"{r}," for r in GOOD]  # optional columns may be empty (NaN)
    df = read_bar_file(_csv(tmp_path, blank, header=f"{HEADER},{extra_header}", name="blank.csv"))
    assert df[extra_header].isna().all()


def test_infinite_price_is_rejected() -> None:
    df = pd.DataFrame(
        {
            "symbol": ["A"],
            "timestamp": [1704205800000],
            "open": [np.inf],
            "high": [np.inf],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
        }
    )
    with pytest.raises(BarValidationError, match="row 1: open is not finite: inf"):
        validate_bars(df, "frame")
