"""The driver's database record of a walk-forward run: one ``runs`` row (``kind = 'walkforward'``) with
the options in ``params`` and every figure (per fold, pooled, stitched, significance, words, tasks,
failures) in ``metrics``. Workers never open the database; the CLI opens it before the run starts
(``cli.common.open_db``), so an outdated or unreachable database fails in a second, not after an hour of
training.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from tradingmodel.config import AppConfig, config_to_toml


def bar_timeframe(bars: pd.DataFrame) -> str:
    """The bars' timeframe as ``runs.timeframe`` spells it (``1m``, ``15m``, ``1h``, ``1d``): the median
    spacing of consecutive bars within a symbol, rounded to a whole second."""
    ns = pd.to_datetime(bars["timestamp"], utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]").astype("int64")
    frame = pd.DataFrame({"symbol": bars["symbol"].to_numpy(), "ns": ns}).sort_values(["symbol", "ns"])
    gaps = frame.groupby("symbol")["ns"].diff().dropna()
    sec = max(1, round(float(gaps.median()) / 1e9)) if len(gaps) else 60
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if sec % size == 0:
            return f"{sec // size}{unit}"
    return f"{sec}s"


def run_name(summary: dict, run_dir: Any = None) -> str:
    """The run folder's name when one was written (the database row and the folder share it), else
    ``walkforward-<UTC time>-<hash of the figures>``."""
    if run_dir is not None:
        return str(getattr(run_dir, "name", run_dir))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(repr(sorted(summary.get("spec", {}).items())).encode()).hexdigest()[:8]
    return f"walkforward-{stamp}-{digest}"


def record_walkforward(
    engine: Engine,
    summary: dict,
    bars: pd.DataFrame,
    cfg: AppConfig,
    params: dict[str, Any],
    *,
    name: str,
    source: str,
) -> int:
    """Store the run; returns its ``runs.id``. ``status`` is ``partial`` when a task failed."""
    from tradingmodel.report.provenance import bars_hash
    from tradingmodel.store.walkforward import save_walkforward_run

    ts = pd.to_datetime(bars["timestamp"], utc=True)
    return save_walkforward_run(
        engine,
        name,
        {**params, "spec": summary.get("spec"), "source": source},
        {k: v for k, v in summary.items() if k != "spec"},
        config_toml=config_to_toml(cfg),
        data_hash=bars_hash(bars),
        symbols=sorted(str(s) for s in bars["symbol"].unique()),
        timeframe=bar_timeframe(bars),
        data_start=ts.min(),
        data_end=ts.max(),
        status="partial" if summary.get("failures") else "finished",
        notes=" ".join(summary.get("words", [])) or None,  # the verdicts in plain words
    )
