"""Bar files: read and write CSV or Parquet (by suffix), always validated, written atomically."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from tradingmodel.data.columns import BAR_COLUMNS, OPTIONAL_BAR_COLUMNS
from tradingmodel.data.validation import BarValidationError, validate_bars

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_NUMERIC = (*BAR_COLUMNS[2:], *OPTIONAL_BAR_COLUMNS)
_NA = ["", "NaN", "nan", "NA", "N/A", "null", "None"]


def file_format(path: str | Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name; ValueError for anything else."""
    name = Path(path).name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"{path}: unknown bar file type; use .csv, .csv.gz, .parquet or .pq")


def read_bar_file(path: str | Path, *, sort: bool = True) -> pd.DataFrame:
    """Read and validate a bars file (CSV or Parquet by suffix). See :func:`validate_bars`.

    Raises FileNotFoundError, or :class:`BarValidationError` naming the file, row and reason.
    """
    p = Path(path)
    fmt = file_format(p)
    if not p.is_file():
        raise FileNotFoundError(f"bars file not found: {p}")
    source = str(p)
    try:
        if fmt == "csv":
            # Map by the header's own spelling ("Symbol", " Close"): validation matches names case-insensitively,
            # and a symbol read as a number would lose its leading zeros ("0700" -> 700).
            header = pd.read_csv(p, nrows=0, encoding="utf-8-sig").columns
            key = {c: str(c).strip().lower() for c in header}
            df = pd.read_csv(
                p,
                dtype={c: str for c, k in key.items() if k in ("symbol", "timestamp")},
                keep_default_na=False,
                encoding="utf-8-sig",
                na_values={c: _NA for c, k in key.items() if k in _NUMERIC},
            )
        else:
            df = pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        raise BarValidationError(source, None, "file is empty (no header row)") from None
    except pd.errors.ParserError as e:
        raise BarValidationError(source, None, f"not a well-formed CSV file: {e}") from None
    except (OSError, ValueError) as e:
        if fmt == "parquet":
            raise BarValidationError(source, None, f"not a readable Parquet file: {e}") from None
        raise BarValidationError(source, None, f"cannot read file: {e}") from None
    return validate_bars(df, source, sort=sort)


def _iso_utc(ts: pd.Series) -> np.ndarray:
    """ISO 8601 strings with an explicit ``+00:00`` offset, at the coarsest exact precision."""
    v = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    us = v.view("int64")
    unit = "s" if not (us % 1_000_000).any() else ("ms" if not (us % 1000).any() else "us")
    return np.char.add(np.datetime_as_string(v, unit=unit).astype(str), "+00:00")


def write_frame(df: pd.DataFrame, path: str | Path) -> None:
    """Write any frame as CSV or Parquet atomically: temp file in the same folder, then rename.

    A ``timestamp`` column is written as ISO 8601 with offset in CSV and as UTC timestamp in Parquet.
    Floats are written in shortest round-trip form, so CSV → read gives back the same float64 values.
    """
    p = Path(path)
    fmt = file_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
    try:
        if fmt == "csv":
            out = df
            if "timestamp" in df.columns and isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype):
                out = df.assign(timestamp=_iso_utc(df["timestamp"]))
            table = pa.Table.from_pandas(out, preserve_index=False)
            options = pacsv.WriteOptions(quoting_style="needed")
            if p.name.lower().endswith(".gz"):
                with pa.CompressedOutputStream(str(tmp), "gzip") as stream:
                    pacsv.write_csv(table, stream, options)
            else:
                pacsv.write_csv(table, str(tmp), options)
        else:
            df.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def write_bars(df: pd.DataFrame, path: str | Path) -> None:
    """Validate ``df`` (sorting it if needed) and write it atomically; nothing is written on error."""
    clean = validate_bars(df, f"bars for {path}")
    write_frame(clean, path)


__all__ = ["BAR_COLUMNS", "file_format", "read_bar_file", "write_bars", "write_frame"]


def symbol_digest(bars_of_symbol: pd.DataFrame) -> str:
    """SHA-256 of one symbol's timestamps (as UTC nanoseconds, so the stored unit does not matter) and
    OHLCV values, in row order: what checkpoints and run folders record as "the data"."""
    h = hashlib.sha256()
    ts = pd.DatetimeIndex(pd.to_datetime(bars_of_symbol["timestamp"], utc=True))
    h.update(np.ascontiguousarray(ts.as_unit("ns").asi8).tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        if col in bars_of_symbol.columns:
            h.update(col.encode())
            h.update(np.ascontiguousarray(bars_of_symbol[col].to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()
