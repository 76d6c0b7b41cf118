"""``tradingmodel paper``: a paper-trading session on replayed, simulated or live (Polygon) bars, filled by the
paper executor (the backtest's fills) or an Alpaca paper account (``--broker alpaca``). ``tradingmodel live``
(:mod:`.live`) is the same command for a live-money Alpaca account, behind ``--confirm-live``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from tradingmodel.cli.common import UserError, console, friendly_errors, get_config, input_bars, out, split_symbols
from tradingmodel.cli.options import (
    ConfigOption,
    DataOption,
    FromOption,
    NoReportOption,
    ReportsOption,
    SymbolsOption,
    TimeframeOption,
    ToOption,
)

_Source = Literal["replay", "simulator", "polygon"]
_Broker = Literal["paper", "alpaca"]


def _source(
    kind: str,
    symbols: list[str],
    data: Path | None,
    start: str | None,
    end: str | None,
    timeframe: str,
    speed: float | None,
    sim_days: int,
    seed: int,
) -> tuple[object, object]:
    from tradingmodel.live.sources import PolygonSource, ReplaySource, simulator_source

    if kind == "replay":
        bars, where = input_bars(data, ",".join(symbols), start, end, timeframe)
        return ReplaySource(bars, speed=0.0 if speed is None else speed, source=where), bars
    if data is not None or start is not None or end is not None:
        raise UserError(f"--data/--from/--to select replayed bars; --source {kind} takes none of them")
    if kind == "simulator":
        return simulator_source(symbols, days=sim_days, seed=seed, speed=1.0 if speed is None else speed), None
    from tradingmodel.config import Settings

    s = Settings()
    if not s.polygon_api_key:
        raise UserError("--source polygon needs POLYGON_API_KEY in the environment or in .env")
    return PolygonSource(
        symbols, api_key=s.polygon_api_key, ws_url=s.polygon_ws_url, rest_base_url=s.polygon_base_url
    ), None


def _executor(broker: str, kind: str, *, live: bool, confirm_live: bool) -> object | None:
    """The session's executor: None for the paper executor, else an Alpaca one from the ``APCA_*`` settings
    (refusing real money unless ``live`` with ``--confirm-live``, and a live-money URL for paper)."""
    if broker == "paper":
        if live:
            raise UserError("`tradingmodel live` trades a broker account: give --broker alpaca")
        return None
    from tradingmodel.config import Settings
    from tradingmodel.execution.alpaca.executor import AlpacaExecutor
    from tradingmodel.execution.alpaca.settings import config_from_settings, fake_price_hook, knobs_from_env
    from tradingmodel.execution.base import ExecutorError

    try:
        knobs = knobs_from_env(os.environ)
        cfg = config_from_settings(Settings(), live=live, confirm_live=confirm_live, **knobs)
    except ExecutorError as e:
        raise UserError(str(e)) from None
    hook = fake_price_hook(cfg.base_url) if kind == "replay" else None
    if hook is not None:  # a replay against the loopback fake: the bars' opens are its prices
        from dataclasses import replace

        cfg = replace(cfg, price_hook=hook)
    return AlpacaExecutor(cfg)


def _paper(
    model: Annotated[Path, typer.Option("--model", help="Model folder (checkpoints of train --out).")],
    symbols: SymbolsOption = None,
    source: Annotated[
        _Source | None,
        typer.Option("--source", help="replay (a file or the database), simulator (default without data) or polygon."),
    ] = None,
    data: DataOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = "1m",
    speed: Annotated[
        float | None,
        typer.Option("--speed", help="x real time; 0 = as fast as possible (replay default 0, simulator default 1)."),
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="Session name: the same name continues the same run and book.")
    ] = None,
    flatten_on_exit: Annotated[
        bool,
        typer.Option(
            "--flatten-on-exit", help="Close every position at its last close when the session ends or stops."
        ),
    ] = False,
    config: ConfigOption = None,
    database_url: Annotated[str | None, typer.Option("--db", help="Database URL (default: DATABASE_URL).")] = None,
    broker_dir: Annotated[Path, typer.Option("--broker-dir", help="Folder of the paper executor's books.")] = Path(
        "data/paper"
    ),
    barrier_timeout: Annotated[
        float, typer.Option("--barrier-timeout", help="Seconds to wait for the other symbols' bars of a minute.")
    ] = 5.0,
    sim_days: Annotated[int, typer.Option("--sim-days", help="Simulator: sessions to generate.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Simulator: seed.")] = 7,
    panel: Annotated[bool, typer.Option("--panel/--no-panel", help="Live panel on a terminal.")] = True,
    reports: ReportsOption = Path("reports"),
    no_report: NoReportOption = False,
    broker: Annotated[
        _Broker,
        typer.Option(
            "--broker",
            help="paper: the backtest's fills (default); alpaca: an Alpaca paper account (APCA_* settings).",
        ),
    ] = "paper",
) -> None:
    """Paper-trade the model on bars as they arrive: crash-safe, restartable, the backtest's own rules."""
    run_command(locals())


def run_command(o: dict[str, Any], *, live: bool = False, confirm_live: bool = False) -> None:
    """The body of ``paper`` and ``live`` (``o``: their options by parameter name)."""
    model, symbols, source, data, start, end = o["model"], o["symbols"], o["source"], o["data"], o["start"], o["end"]
    timeframe, speed, session, config, broker = o["timeframe"], o["speed"], o["session"], o["config"], o["broker"]
    panel, reports, no_report = o["panel"], o["reports"], o["no_report"]
    from tradingmodel.execution.base import ExecutorError
    from tradingmodel.live.orders import EngineError
    from tradingmodel.live.session import EMULATION_NOTE, default_session_name, run_session
    from tradingmodel.model.checkpoint import resolve_model_dir
    from tradingmodel.store.types import StoreError

    if live and not confirm_live:  # before anything else is read or opened
        raise UserError("refusing to trade a live-money Alpaca account without --confirm-live")
    cfg = get_config(config)
    kind = source or ("replay" if data is not None or start is not None or end is not None else "simulator")
    executor = _executor(str(broker), str(kind), live=live, confirm_live=confirm_live)
    if executor is not None and not executor.holds_protective_orders:  # type: ignore[attr-defined]
        console.print(f"[yellow]{EMULATION_NOTE}[/yellow]", highlight=False, soft_wrap=True)
    wanted = split_symbols(symbols) or sorted(resolve_model_dir(model))
    src, bars = _source(kind, wanted, data, start, end, timeframe, speed, o["sim_days"], o["seed"])
    if kind != "polygon":
        wanted = src.symbols  # type: ignore[attr-defined]
    label = kind if broker == "paper" else f"{broker}-{kind}"
    name = session or default_session_name(wanted, model, label)

    def on_start(engine: object) -> None:
        if panel and console.is_terminal:
            from tradingmodel.live.panel import show

            task = asyncio.get_running_loop().create_task(show(engine, console))
            engine.panel_task = task  # type: ignore[attr-defined]

    try:
        result = asyncio.run(
            run_session(
                name=name,
                symbols=wanted,
                model_dir=model,
                source=src,
                config=cfg,
                database_url=o["database_url"],
                broker_dir=o["broker_dir"],
                flatten_on_exit=bool(o["flatten_on_exit"]),
                barrier_timeout=float(o["barrier_timeout"]),
                on_start=on_start,
                kind="live" if live else "paper",
                executor=executor,
            )
        )
    except (EngineError, StoreError, ExecutorError) as e:
        raise UserError(str(e)) from None
    m = result.metrics
    out.print(
        f"session {name} ({result.status}): {result.stats.slices} slices, {result.stats.bars} bars, "
        f"{result.stats.fills} fills this run; equity ${m.get('final_equity', cfg.trading.deposit):,.2f} "
        f"({m.get('total_profit_pct', 0.0):+.2f}% on ${cfg.trading.deposit:,.2f})",
        highlight=False,
    )
    if not no_report:
        from tradingmodel.live.report import save_session_report

        what = f"{'live' if live else 'paper'} {label}"
        run_dir = save_session_report(result.store, cfg, reports, source=what, bars=bars)
        out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``paper`` to the main app."""
    app.command("paper")(friendly_errors(_paper))
