"""``tradingmodel serve``: the REST + WebSocket API (uvicorn) with background training workers."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from tradingmodel.cli.common import UserError, console, friendly_errors, get_config
from tradingmodel.cli.options import ConfigOption


def _serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback needs TRADINGMODEL_API_KEYS.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=0, max=16, help="Training worker processes (0: jobs stay queued).")
    ] = 1,
    models: Annotated[Path, typer.Option("--models", help="Folder for the checkpoints of training jobs.")] = Path(
        "models"
    ),
    config: ConfigOption = None,
    paper: Annotated[bool, typer.Option("--paper", help="Run a paper session inside the server.")] = False,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="--paper: symbols to trade.")] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="--paper: model directory.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="--paper: bar source.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="--paper: bar file to replay.")] = None,
    speed: Annotated[float | None, typer.Option("--speed", help="--paper: replay speed-up.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="--paper: session name.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API: market data, predictions, the paper portfolio, training jobs, a WebSocket of events."""
    import uvicorn

    from tradingmodel.api import ApiConfig, create_app
    from tradingmodel.api.security import is_loopback, new_key
    from tradingmodel.config import Settings

    child = None
    if paper:
        child_argv = _paper_argv(symbols, model, source, data, speed, session, config)
    elif any(v is not None for v in (symbols, model, source, data, speed, session)):
        raise UserError("--symbols/--model/--source/--data/--speed/--session are options of --paper")
    settings = Settings()
    keys = settings.api_keys
    if not keys:
        if not is_loopback(host):
            raise UserError(
                f"--host {host} is reachable from other machines: set TRADINGMODEL_API_KEYS "
                "(comma-separated keys) before serving on it"
            )
        keys = [new_key()]
        console.print(
            f"[yellow]note:[/] TRADINGMODEL_API_KEYS is not set; key for this run only: {keys[0]}",
            highlight=False,
            soft_wrap=True,
        )
    app_cfg = get_config(config)
    origins = [o.strip() for o in settings.tradingmodel_cors_origins.split(",") if o.strip()]
    app = create_app(
        ApiConfig(
            database_url=settings.database_url,
            api_keys=keys,
            app_config=app_cfg,
            models_dir=models,
            workers=workers,
            cors_origins=origins,
        )
    )
    if paper:
        child = _start_paper(child_argv)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        if child is not None:
            _stop_paper(child)


def _paper_argv(
    symbols: str | None,
    model: Path | None,
    source: str | None,
    data: Path | None,
    speed: float | None,
    session: str | None,
    config: Path | None,
) -> list[str]:
    """The ``tradingmodel paper`` command line that ``serve --paper`` runs beside the API."""
    if model is None:
        raise UserError("serve --paper needs --model DIR (a folder written by `tradingmodel train`)")
    argv = ["paper", "--model", str(model), "--no-panel"]
    for flag, value in (
        ("--symbols", symbols),
        ("--source", source),
        ("--data", data),
        ("--speed", speed),
        ("--session", session),
        ("--config", config),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _start_paper(argv: list[str]) -> subprocess.Popen:
    """Run the paper session in its own process: the API's event loop and the trading loop never wait on
    each other, and the API serves the session through the database (its events table) like any other."""
    proc = subprocess.Popen([sys.executable, "-c", "from tradingmodel.cli import main; main()", *argv])
    console.print(
        f"[yellow]note:[/] paper session running in process {proc.pid}: tradingmodel {' '.join(argv)}",
        highlight=False,
        soft_wrap=True,
    )
    return proc


def _stop_paper(proc: subprocess.Popen) -> None:
    """SIGTERM: the engine takes no new entries, persists and exits 0 (see docs/live.md)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def register(app: typer.Typer) -> None:
    """Add the serve command to the main app."""
    app.command("serve")(friendly_errors(_serve))
