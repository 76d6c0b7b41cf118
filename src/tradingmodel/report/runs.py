"""Run folders: one directory per ``train``/``evaluate``/``backtest``/``demo`` run.

Layout of ``reports/<run-id>/`` (``<run-id>`` = ``YYYYMMDD-HHMMSS-<kind>-<6 hex>``, UTC):

==================  =====================================================================
``run.json``        format version, run id, kind, creation time (UTC), provenance, extra
``config.toml``     the full experiment config (when the run had one)
``metrics.json``    ``{"model": {...} | null, "trading": {...} | null}``, exactly as given
``trades.csv``      one row per round trip (always written; header only when no trades)
``equity.parquet``  equity curve; ``bars.parquet``, ``predictions.parquet`` likewise
``history.json``    training/validation loss per epoch, per symbol or ``"pooled"``
``report.html``     self-contained report built from the files above only
==================  =====================================================================

The folder is written under a hidden temporary name in the same directory and renamed into place
as the last step, so a crash never leaves a half-written run folder behind.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.config import AppConfig, config_to_toml, load_config
from tradingmodel.data.columns import BAR_COLUMNS, TRADE_COLUMNS

FORMAT_VERSION = 1

# name -> (required columns, time columns, numeric columns that must parse as numbers if present)
_FRAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "trades": (
        ("symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price"),
        ("entry_time", "exit_time"),
        ("entry_price", "exit_price", "quantity", "pnl", "return_pct", "commission"),
    ),
    "equity": (("timestamp", "equity"), ("timestamp",), ("equity", "cash", "gross_exposure", "buy_and_hold")),
    "bars": (("symbol", "timestamp", "close"), ("timestamp",), ("open", "high", "low", "close", "volume")),
    "predictions": (
        ("symbol", "timestamp", "predicted_close"),
        ("timestamp",),
        ("predicted_close", "confidence", "close", "next_close"),
    ),
}
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(kw_only=True)
class RunOutputs:
    """What a run produced, as its folder stores it (every part optional); the keyword arguments of
    :func:`write_run_folder` of the same names."""

    model_metrics: dict[str, Any] | None = None
    trading_metrics: dict[str, Any] | None = None
    trades: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    bars: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    history: dict[str, list[dict[str, Any]]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, Any]:
        """The fields as keyword arguments (no copy of the frames)."""
        return {f.name: getattr(self, f.name) for f in fields(RunOutputs)}


@dataclass(kw_only=True)
class RunData(RunOutputs):
    """Everything stored in a run folder, as read back by :func:`load_run`."""

    run_id: str
    kind: str
    created_utc: str
    provenance: dict[str, Any] = field(default_factory=dict)
    config: AppConfig | None = None


def new_run_id(kind: str, now: dt.datetime | None = None) -> str:
    """``20261124-081500-backtest-3fa9c2``: sortable by time, unique by the random suffix."""
    _check_kind(kind)
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(3)}"


def write_run_folder(
    kind: str,
    *,
    root: str | Path = "reports",
    config: AppConfig | None,
    provenance: dict,
    model_metrics: dict | None = None,
    trading_metrics: dict | None = None,
    trades: pd.DataFrame | None = None,
    equity: pd.DataFrame | None = None,
    bars: pd.DataFrame | None = None,
    predictions: pd.DataFrame | None = None,
    history: dict[str, list[dict]] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write the run folder ``root/<run-id>/`` with its data files and ``report.html``; return it.

    Inputs are validated first (a bad one raises ``ValueError`` naming the input, column and row);
    nothing is written unless all of them are usable, and the folder appears only when complete.
    """
    from tradingmodel.report.html import build_report  # html imports this module

    _check_kind(kind)
    frames = {
        name: _clean_frame(name, df)
        for name, df in (("trades", trades), ("equity", equity), ("bars", bars), ("predictions", predictions))
    }
    hist = _clean_history(history)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    metrics = {"model": model_metrics, "trading": trading_metrics}
    texts = {"metrics.json": _dumps("metrics", metrics)}
    if hist is not None:
        texts["history.json"] = _dumps("history", hist)
    if config is not None:
        texts["config.toml"] = config_to_toml(config)

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = new_run_id(kind, created)
        if not (root / run_id).exists():
            break
    meta = {
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "kind": kind,
        "created_utc": created.isoformat(),
        "provenance": provenance or {},
        "extra": extra or {},
    }
    texts["run.json"] = _dumps("provenance/extra", meta)

    tmp = root / f".{run_id}.tmp"
    tmp.mkdir()
    try:
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
        trades_df = frames["trades"] if frames["trades"] is not None else pd.DataFrame(columns=TRADE_COLUMNS)
        iso_times(trades_df, ("entry_time", "exit_time")).to_csv(tmp / "trades.csv", index=False)
        for name in ("equity", "bars", "predictions"):
            if frames[name] is not None:
                frames[name].to_parquet(tmp / f"{name}.parquet", index=False, compression="zstd")
        build_report(tmp)
        _fsync_tree(tmp)
        os.rename(tmp, root / run_id)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root / run_id


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder written by :func:`write_run_folder`. Raises ``FileNotFoundError`` if it is not one."""
    d = Path(run_dir)
    meta_path = d / "run.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{d}: not a run folder (no run.json)")
    meta = _read_json(meta_path)
    fmt = meta.get("format") if isinstance(meta, dict) else meta
    if fmt != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: unsupported run format {fmt!r} (this version reads {FORMAT_VERSION})")
    metrics = _read_json(d / "metrics.json") if (d / "metrics.json").is_file() else {}
    run = RunData(
        run_id=str(meta.get("run_id", d.name)),
        kind=str(meta.get("kind", "")),
        created_utc=str(meta.get("created_utc", "")),
        provenance=meta.get("provenance") or {},
        extra=meta.get("extra") or {},
        model_metrics=metrics.get("model"),
        trading_metrics=metrics.get("trading"),
    )
    if (d / "config.toml").is_file():
        run.config = load_config(d / "config.toml")
    if (d / "history.json").is_file():
        run.history = _read_json(d / "history.json")
    if (d / "trades.csv").is_file():
        try:
            # only an empty cell is missing: pandas would read a ticker such as NA (Nano Labs) as missing
            trades = pd.read_csv(
                d / "trades.csv",
                dtype={"symbol": str, "side": str, "exit_reason": str},
                keep_default_na=False,
                na_values=[""],
            )
        except pd.errors.EmptyDataError:
            trades = pd.DataFrame(columns=TRADE_COLUMNS)
        run.trades = _clean_frame("trades", trades, source=d / "trades.csv")
    for name in ("equity", "bars", "predictions"):
        path = d / f"{name}.parquet"
        if path.is_file():
            setattr(run, name, _clean_frame(name, pd.read_parquet(path), source=path))
    return run


# --------------------------------------------------------------------------------------------- helpers


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(f"run kind {kind!r}: use lower-case letters, digits and '_' (e.g. 'backtest')")


def _clean_frame(name: str, df: pd.DataFrame | None, source: Path | None = None) -> pd.DataFrame | None:
    """Check the columns a report needs; parse times to UTC and numbers to float64; copy."""
    if df is None:
        return None
    where = str(source) if source is not None else name
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
    required, time_cols, num_cols = _FRAMES[name]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}")
    out = df.reset_index(drop=True).copy()
    if name == "bars":  # keep what the report draws; the store keeps the rest
        out = out[[c for c in out.columns if c in BAR_COLUMNS]]
    for col in time_cols:
        out[col] = _parse_times(out[col], where, col)
    for col in num_cols:
        if col in out.columns:
            out[col] = _parse_numbers(out[col], where, col)
    if name in ("bars", "predictions"):  # the convention, made sure of: sorted by (symbol, timestamp)
        out = out.sort_values(["symbol", "timestamp"], kind="stable", ignore_index=True)
    for col in ("symbol", "side", "exit_reason", "split"):
        if col not in out.columns:
            continue
        missing = out[col].isna()
        if missing.any() and col in ("symbol", "side"):
            raise ValueError(f"{where}: row {int(np.flatnonzero(missing.to_numpy())[0])}: column {col} is empty")
        if not pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(lambda v: None if v is None or v != v else str(v)).astype(object)
    return out


def _parse_times(s: pd.Series, where: str, col: str) -> pd.Series:
    """To ``datetime64[ns, UTC]``; tz-naive values are taken as UTC (the project's convention)."""
    try:
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            parsed = s.dt.tz_convert("UTC")
        else:
            parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: column {col}: not timestamps ({e})") from None
    bad = parsed.isna() & s.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{where}: row {row}: column {col}: not a timestamp ({s.iloc[row]!r})")
    if parsed.isna().any() and col != "exit_time":
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise ValueError(f"{where}: row {row}: column {col} is empty")
    return parsed.astype("datetime64[ns, UTC]")


def _parse_numbers(s: pd.Series, where: str, col: str) -> pd.Series:
    """To float64; empty cells become NaN, anything else that is not a number is an error."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    parsed = pd.to_numeric(s, errors="coerce").astype("float64")
    suspect = np.flatnonzero((parsed.isna() & s.notna()).to_numpy())
    for row in suspect:
        if str(s.iloc[row]).strip().lower() not in ("nan", "none", ""):
            raise ValueError(f"{where}: row {int(row)}: column {col}: not a number ({s.iloc[row]!r})")
    return parsed


def _clean_history(history: dict[str, list[dict]] | None) -> dict[str, list[dict]] | None:
    if history is None:
        return None
    if not isinstance(history, dict):
        raise ValueError(f"history: expected {{symbol: [epoch records]}}, got {type(history).__name__}")
    out: dict[str, list[dict]] = {}
    for key, records in history.items():
        if not isinstance(records, list):
            raise ValueError(f"history[{key!r}]: expected a list of epoch records")
        for i, rec in enumerate(records):
            missing = [k for k in ("epoch", "train_loss", "val_loss") if not isinstance(rec, dict) or k not in rec]
            if missing:
                raise ValueError(f"history[{key!r}] record {i}: missing {', '.join(missing)}")
        out[str(key)] = [dict(r) for r in records]
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (dt.datetime, dt.date, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    raise TypeError(f"value of type {type(obj).__name__} is not JSON-serialisable")


def _dumps(what: str, obj: Any) -> str:
    """JSON with stable key order. NaN/inf are kept as Python's ``NaN``/``Infinity`` tokens."""
    try:
        return json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: {e}") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None


def _fsync_tree(d: Path) -> None:
    for p in d.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(d)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iso_times(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``df`` with its tz-aware time ``columns`` as ISO 8601 text with offset, as bar files write them
    (``2024-01-02T17:10:00+00:00``); a missing time stays empty. For CSV files people read."""
    from tradingmodel.data.bars import _iso_utc

    out = df.copy()
    for col in columns:
        if col in out.columns and isinstance(out[col].dtype, pd.DatetimeTZDtype):
            missing = out[col].isna().to_numpy()
            text = _iso_utc(out[col].fillna(pd.Timestamp(0, tz="UTC"))).astype(object)
            text[missing] = None
            out[col] = text
    return out


def is_finite_number(v: Any) -> bool:
    """True for a real number that is neither NaN nor infinite (bools excluded)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
