"""Start, run and end one paper session: store, strategy snapshot, predictor warm-up, executor, signals.

``run_session`` is what ``tradingmodel paper`` calls; tests and benchmarks call it too (in a subprocess for
the crash tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from sqlalchemy import select

from tradingmodel.config import AppConfig, config_to_toml
from tradingmodel.execution.base import Executor
from tradingmodel.execution.paper import PaperExecutor
from tradingmodel.live.crash import CrashPoints
from tradingmodel.live.engine import Engine, EngineStats
from tradingmodel.live.events import Publisher
from tradingmodel.live.orders import EngineError
from tradingmodel.live.predictor import Predictor
from tradingmodel.live.strategy import ExecutionModeError, LiveStrategy, check_format
from tradingmodel.store.schema import Model
from tradingmodel.store.sessions import EventRow, SessionInfo, SessionStore, open_session

log = logging.getLogger(__name__)

#: said at the start of a session whose executor holds no stop/target orders (logged, an event, the CLI)
EMULATION_NOTE = (
    "warning: the executor holds no stop-loss / take-profit orders (e.g. Alpaca with APCA_ALLOW_FRACTIONAL=true): "
    "the engine emulates them: they trigger on a bar's close (its low or high reaching the level), fill at market "
    "at the next bar's open, and do not fire while the engine is down"
)


@dataclass
class SessionResult:
    """How a session ended: ``finished`` (bars ran out), ``stopped`` (signal) or ``error``."""

    info: SessionInfo
    status: str
    stats: EngineStats
    store: SessionStore
    run_dir: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def default_session_name(symbols: list[str], model_dir: Path, source: str) -> str:
    """``paper-<source>-<symbols>-<hash of the model folder>``, at most 200 characters."""
    digest = hashlib.sha256(str(Path(model_dir).resolve()).encode()).hexdigest()[:8]
    syms = "-".join(symbols)
    if len(syms) > 120:
        syms = f"{len(symbols)}sym-{hashlib.sha256(syms.encode()).hexdigest()[:8]}"
    return f"paper-{source}-{syms}-{digest}".lower()


def model_id_for(engine: Any, model_dir: Path, symbols: list[str]) -> int:
    """The registry id of ``model_dir`` (registered without metrics when it is not yet)."""
    from tradingmodel.store import save_model

    path = str(Path(model_dir).resolve())
    with engine.connect() as conn:
        found = conn.execute(select(Model.id).where(Model.path == path)).scalar()
    return int(found) if found is not None else save_model(engine, Path(path).name, path, {}, symbols=symbols)


async def run_session(
    *,
    name: str,
    symbols: list[str],
    model_dir: Path,
    source: Any,
    config: AppConfig,
    database_url: str | None,
    broker_dir: Path,
    flatten_on_exit: bool = False,
    barrier_timeout: float = 5.0,
    kind: str = "paper",
    on_start: Callable[[Engine], Any] | None = None,
    handle_signals: bool = True,
    executor: Executor | None = None,
) -> SessionResult:
    """Run session ``name`` to its end (or a SIGINT/SIGTERM). A session of that name continues its run.
    ``executor``: the broker (e.g. an :class:`~tradingmodel.execution.alpaca.executor.AlpacaExecutor`);
    default the paper executor with its book in ``broker_dir``."""
    from tradingmodel.store import get_engine

    torch.set_num_threads(1)  # one small batch per minute: more threads only wait on each other
    db = get_engine(database_url)
    symbols = sorted(symbols)
    predictor = Predictor(model_dir, symbols)  # refuses symbols the model does not know, before any write
    model_id = model_id_for(db, model_dir, symbols)
    info = open_session(
        db,
        name,
        symbols=symbols,
        config_toml=config_to_toml(config),
        kind=kind,
        model_id=model_id,
        notes=f"source={getattr(source, 'name', '?')}",
    )
    crash = CrashPoints()
    store = SessionStore(db, info.run_id, crash)
    # what the executor can do: without resting stop/target orders the strategy emulates them
    emulate = executor is not None and not executor.holds_protective_orders
    fractional = bool(getattr(executor, "fractional", False))
    if info.snapshot is not None:
        try:
            check_format(info.format_version)
        except ValueError as e:
            raise ValueError(f"session {name!r}: {e}") from None
        try:
            strategy = LiveStrategy.restore(
                info.snapshot, symbols, config.trading, emulate_exits=emulate, fractional=fractional
            )
        except ExecutionModeError as e:
            raise EngineError(f"session {name!r}: {e}") from None
    else:
        strategy = LiveStrategy.new(symbols, config.trading, emulate_exits=emulate, fractional=fractional)
    if emulate:
        log.warning("%s", EMULATION_NOTE)
    start = source.resume_point(None if info.last_bar_time is None else pd.Timestamp(info.last_bar_time))
    history = source.history()
    for sym, g in history.groupby("symbol"):
        if sym in predictor.symbols:
            predictor.warm_up(str(sym), g["close"].to_numpy(), g["volume"].to_numpy())
    if executor is None:
        executor = PaperExecutor(config.trading, Path(broker_dir) / f"{name}.db")
    elif getattr(executor, "since", False) is None and info.created_at is not None:
        # a broker's reconciliation window: this session's life (a minute early for clock skew), not the
        # account's whole history
        executor.since = info.created_at - timedelta(minutes=1)  # type: ignore[attr-defined]
    engine = Engine(
        session=info,
        store=store,
        strategy=strategy,
        predictor=predictor,
        executor=executor,
        source=source,
        trading=config.trading,
        model_id=model_id,
        flatten_on_exit=flatten_on_exit,
        barrier_timeout=barrier_timeout,
        publisher=Publisher(),
        crash=crash,
    )
    engine.barrier.released = start
    engine.last_bar_of = {str(s): pd.Timestamp(t) for s, t in history.groupby("symbol")["timestamp"].max().items()}
    store.append_events(
        [
            EventRow(
                "session",
                {
                    "state": "resumed" if info.resumed else "started",
                    "message": f"{len(history)} bars of warm-up, trading after {start}",
                },
            ),
            *([EventRow("session", {"state": "note", "message": EMULATION_NOTE})] if emulate else []),
        ]
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:  # the slice in hand is finished; a source waiting for its next bar is not waited for
        engine.request_stop()
        engine.barrier.close()

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
    status = "error"
    try:
        if on_start is not None:
            on_start(engine)
        stats = await engine.run()
        status = "stopped" if engine.stopping else "finished"
    finally:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        store.append_events(
            [EventRow("session", {"state": "finished" if status != "error" else "error", "message": status})]
        )
        await executor.close()
    result = SessionResult(info, status, stats, store)
    from tradingmodel.live.report import session_metrics

    result.metrics = session_metrics(store, config.trading)
    store.finish("finished" if status == "finished" else "stopped", result.metrics)
    return result
