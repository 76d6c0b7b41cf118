"""Command-line interface: ``tradingmodel <command>``. Thin layer over the library functions.

Each area registers its commands from its own module so the CLI mirrors the pipeline; every command goes
through :func:`tradingmodel.cli.errors.add_command`, so all fail the same way (``error: …``, exit 2).
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from tradingmodel import __version__
from tradingmodel.cli.errors import Group

app = typer.Typer(
    cls=Group,
    name="tradingmodel",
    help="Intraday trading with an LSTM price model: simulate, import, train, evaluate, backtest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define commands; each exposes ``register(app)``. Missing ones are skipped so that
# an area under construction never breaks the others.
_COMMAND_MODULES = (
    "data",
    "model",
    "backtest",
    "store",
    "polygon",
    "report",
    "demo",
    "paper",
    "live",
    "serve",
    "walkforward",
)

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # pragma: no cover - only while an area is absent
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    _mod.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tradingmodel {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Intraday trading with an LSTM price model: simulate, import, train, evaluate, backtest."""


def main() -> None:
    """Console-script entry point."""
    app()
