"""Bar validation: one function that turns any bars frame into the canonical, checked schema.

Errors name the source, the row (1-based data row: row 1 is the first row after the header, or the
first row of a frame) and the reason, e.g. ``bars.csv: row 7: high 10.2 is below low 10.4``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from tradingmodel.data.columns import BAR_COLUMNS, OPTIONAL_BAR_COLUMNS, PRICE_COLUMNS
from tradingmodel.data.sessions import TIMESTAMP_DTYPE


# A time (digit, "T" or space, digit) and then an offset at the end. Without the time part, the day of a
# date-only string ("2024-01-02" ends in "-02") would pass as an offset and the date be taken as UTC midnight.
_OFFSET = re.compile(r"\d[T ]\d.*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_INTEGER = re.compile(r"^-?\d+$")
_BLANK = ("", "nan", "na", "n/a", "null", "none")
_MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in ms; smaller values are almost surely seconds
_MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01 in ms; larger values are micro- or nanoseconds


class BarValidationError(ValueError):
    """Bars failed validation. ``source`` names the file, ``row`` the 1-based data row (or None)."""

    def __init__(self, source: str, row: int | None, reason: str) -> None:
        self.source = source
        self.row = row
        self.reason = reason
        where = f"{source}: row {row}" if row is not None else source
        super().__init__(f"{where}: {reason}")


class BarsSortedWarning(UserWarning):
    """An unsorted bars input was sorted by (symbol, timestamp)."""


def _fail(source: str, mask: np.ndarray, reason_for: object) -> None:
    """Raise for the first True in ``mask``; ``reason_for(i)`` describes row position i."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return
    i = int(bad[0])
    reason = reason_for(i)  # type: ignore[operator]
    if bad.size > 1:
        reason += f" (and {bad.size - 1} more row{'s' if bad.size > 2 else ''})"
    raise BarValidationError(source, i + 1, reason)


def _check_epoch_ms(source: str, ms: np.ndarray, used: np.ndarray) -> None:
    _fail(
        source,
        used & (ms < _MIN_EPOCH_MS),
        lambda i: f"timestamp {ms[i]} looks like epoch seconds (or is before 1973); epoch must be milliseconds",
    )
    _fail(
        source,
        used & (ms > _MAX_EPOCH_MS),
        lambda i: f"timestamp {ms[i]} is after 2100; epoch timestamps must be milliseconds, not us or ns",
    )


def _parse_timestamps(col: pd.Series, source: str) -> np.ndarray:
    """Timestamps → ``datetime64[us]`` UTC values. Accepts tz-aware datetimes, epoch ms, ISO with offset."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        _fail(source, col.isna().to_numpy(), lambda i: "timestamp is missing")
        return col.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE).dt.tz_localize(None).to_numpy()
    if pd.api.types.is_datetime64_dtype(col.dtype):
        raise BarValidationError(
            source,
            1 if len(col) else None,
            "timestamp has no time zone; use ISO 8601 with an offset or epoch milliseconds UTC",
        )
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        _fail(source, ~np.isfinite(v), lambda i: "timestamp is missing")
        _fail(source, v != np.floor(v), lambda i: f"timestamp {float(v[i])!r} is not whole epoch milliseconds")
        _fail(source, np.abs(v) > 2.0**62, lambda i: f"timestamp {float(v[i])!r} is out of range")
        ms = v.astype(np.int64)
    else:
        text = col.astype(object).where(col.notna(), "").astype(str).str.strip()
        s = text.to_numpy(dtype=object)
        _fail(source, text.eq("").to_numpy(), lambda i: "timestamp is missing")
        is_int = text.str.match(_INTEGER).to_numpy(dtype=bool)
        has_off = text.str.contains(_OFFSET).to_numpy(dtype=bool)
        _fail(
            source,
            ~is_int & ~has_off,
            lambda i: f"timestamp {s[i]!r} has no UTC offset (use e.g. 2024-01-02T14:30:00+00:00 or epoch ms)",
        )
        ms = np.zeros(len(s), dtype=np.int64)
        out = np.empty(len(s), dtype="datetime64[us]")
        if is_int.any():
            digits = text[is_int]
            _fail(
                source,
                is_int & (text.str.len().to_numpy() > 18),
                lambda i: f"timestamp {s[i]!r} is after 2100; epoch timestamps must be milliseconds, not us or ns",
            )
            ms[is_int] = digits.astype(np.int64).to_numpy()
        if (~is_int).any():
            parsed = pd.to_datetime(text[~is_int], utc=True, format="ISO8601", errors="coerce")
            bad = np.zeros(len(s), dtype=bool)
            bad[~is_int] = parsed.isna().to_numpy()
            _fail(source, bad, lambda i: f"timestamp {s[i]!r} is not a valid ISO 8601 time")
            out[~is_int] = parsed.astype(TIMESTAMP_DTYPE).dt.tz_localize(None).to_numpy()
        if not is_int.any():
            return out
        _check_epoch_ms(source, ms, is_int)
        out[is_int] = ms[is_int].astype("datetime64[ms]").astype("datetime64[us]")
        return out
    _check_epoch_ms(source, ms, np.ones(len(ms), dtype=bool))
    return ms.astype("datetime64[ms]").astype("datetime64[us]")


def _numeric(col: pd.Series, name: str, source: str, *, allow_nan: bool) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        raw = col.to_numpy(dtype=object)
        blank = col.isna() | col.astype(str).str.strip().str.lower().isin(_BLANK)
        _fail(source, np.isnan(v) & ~blank.to_numpy(dtype=bool), lambda i: f"{name} is not a number: {raw[i]!r}")
    if not allow_nan:
        _fail(source, np.isnan(v), lambda i: f"{name} is missing (NaN)")
    _fail(source, np.isinf(v), lambda i: f"{name} is not finite: {float(v[i])!r}")
    return v


def validate_bars(df: pd.DataFrame, source: str = "<data>", *, sort: bool = True) -> pd.DataFrame:
    """Check bars and return them in canonical form, or raise :class:`BarValidationError`.

    Canonical: columns ``BAR_COLUMNS`` (+ ``vwap``, ``transactions`` when present; other columns are
    dropped), symbol upper-case ``str``, timestamp ``datetime64[us, UTC]``, numbers float64,
    RangeIndex, sorted by (symbol, timestamp). An unsorted input is sorted with a warning when
    ``sort`` is true and rejected otherwise. Duplicate (symbol, timestamp) rows are always rejected.
    """
    if not isinstance(df, pd.DataFrame):
        raise BarValidationError(source, None, f"expected a pandas DataFrame, got {type(df).__name__}")
    cols = [str(c).strip().lower() for c in df.columns]
    if len(set(cols)) != len(cols):
        raise BarValidationError(source, None, f"duplicate column names: {list(df.columns)}")
    df = df.set_axis(cols, axis=1)
    missing = [c for c in BAR_COLUMNS if c not in cols]
    if missing:
        raise BarValidationError(source, None, f"missing column(s): {', '.join(missing)}")
    n = len(df)

    # Clean the distinct symbols only (fast on millions of rows), then map back by code.
    raw_codes, raw_uniq = pd.factorize(df["symbol"], use_na_sentinel=True)
    cleaned = pd.Index(np.asarray(raw_uniq, dtype=object)).astype(str).str.strip().str.upper()
    blank = np.append(cleaned.to_numpy(dtype=object) == "", True)  # index -1 (missing) -> blank
    _fail(source, blank[raw_codes], lambda i: "symbol is missing")
    remap, names = pd.factorize(cleaned, sort=True)
    codes = remap[raw_codes] if len(raw_uniq) else raw_codes
    names = np.asarray(names, dtype=object)
    ts = _parse_timestamps(df["timestamp"], source)

    data: dict[str, np.ndarray] = {}
    for c in PRICE_COLUMNS:
        v = _numeric(df[c], c, source, allow_nan=False)
        _fail(source, v <= 0, lambda i, c=c, v=v: f"{c} must be positive, got {float(v[i])!r}")
        data[c] = v
    vol = _numeric(df["volume"], "volume", source, allow_nan=False)
    _fail(source, vol < 0, lambda i: f"volume is negative: {float(vol[i])!r}")
    o, h, lo, c = data["open"], data["high"], data["low"], data["close"]
    _fail(source, h < lo, lambda i: f"high {float(h[i])!r} is below low {float(lo[i])!r}")
    for name, v in (("open", o), ("close", c)):
        _fail(
            source,
            v > h,
            lambda i, name=name, v=v: f"OHLC inconsistent: {name} {float(v[i])!r} is above high {float(h[i])!r}",
        )
        _fail(
            source,
            v < lo,
            lambda i, name=name, v=v: f"OHLC inconsistent: {name} {float(v[i])!r} is below low {float(lo[i])!r}",
        )
    data["volume"] = vol
    for opt in OPTIONAL_BAR_COLUMNS:
        if opt in cols:
            v = _numeric(df[opt], opt, source, allow_nan=True)
            if opt == "vwap":
                _fail(source, v <= 0, lambda i, v=v: f"vwap must be positive, got {float(v[i])!r}")
            else:
                _fail(source, v < 0, lambda i, v=v: f"transactions is negative: {float(v[i])!r}")
            data[opt] = v

    out = pd.DataFrame(
        {
            "symbol": pd.array(names, dtype="str").take(codes),
            "timestamp": pd.DatetimeIndex(ts).tz_localize("UTC").astype(TIMESTAMP_DTYPE),
        }
    )
    for k, v in data.items():
        out[k] = v
    return _check_order(out, codes, names, ts.astype("datetime64[us]").view("int64"), source, sort) if n else out


def _check_order(
    out: pd.DataFrame, codes: np.ndarray, names: np.ndarray, t: np.ndarray, source: str, sort: bool
) -> pd.DataFrame:
    """Reject duplicate (symbol, timestamp); sort (with a warning) or reject out-of-order rows."""
    order = np.lexsort((t, codes))  # stable: by symbol, then timestamp
    sc, st = codes[order], t[order]
    dup_sorted = np.zeros(len(order), dtype=bool)
    dup_sorted[1:] = (sc[1:] == sc[:-1]) & (st[1:] == st[:-1])
    if dup_sorted.any():
        j = int(np.flatnonzero(dup_sorted)[0])
        first, second = sorted((int(order[j - 1]), int(order[j])))
        when = pd.Timestamp(t[second], unit="us", tz="UTC").isoformat()
        more = int(dup_sorted.sum()) - 1
        raise BarValidationError(
            source,
            second + 1,
            f"duplicate timestamp {when} for {names[codes[second]]} (same as row {first + 1})"
            + (f" (and {more} more duplicate rows)" if more else ""),
        )
    moved = order != np.arange(len(order))
    if not moved.any():
        return out
    if not sort:
        bad = np.zeros(len(order), dtype=bool)
        bad[1:] = (codes[1:] < codes[:-1]) | ((codes[1:] == codes[:-1]) & (t[1:] < t[:-1]))
        i = int(np.flatnonzero(bad)[0])
        if codes[i] == codes[i - 1]:
            reason = (
                f"timestamp {pd.Timestamp(t[i], unit='us', tz='UTC').isoformat()} for {names[codes[i]]} "
                f"is before the previous row's; bars must be sorted by (symbol, timestamp)"
            )
        else:
            reason = (
                f"symbol {names[codes[i]]} comes after {names[codes[i - 1]]}; "
                "bars must be sorted by (symbol, timestamp)"
            )
        raise BarValidationError(source, i + 1, reason)
    msg = f"{source}: {int(moved.sum()):,} of {len(order):,} rows were out of (symbol, timestamp) order; sorted them"
    # one channel only (the CLI prints it as one note; logging.captureWarnings routes it to a log)
    warnings.warn(msg, BarsSortedWarning, stacklevel=3)
    return out.iloc[order].reset_index(drop=True)
