"""``tradingmodel report RUN_DIR [--open]``: rebuild a run folder's ``report.html``."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from tradingmodel.cli.common import UserError, add_command, out


def _report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. reports/20261124-081500-backtest-3fa9c2.")],
    open_: Annotated[bool, typer.Option("--open", help="Open the report in the default browser.")] = False,
) -> None:
    """Rebuild report.html from a run folder's files (offline, self-contained) and print its path."""
    from tradingmodel.report import build_report

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    path = build_report(run_dir).resolve()
    out.print(str(path), highlight=False, soft_wrap=True)
    if open_ and not webbrowser.open(path.as_uri()):
        raise UserError(f"could not open a browser; open {path} by hand")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""
    add_command(app, "report", _report)
