"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from tradingmodel.config import AppConfig, ConfigError, load_config

console = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (\\[model] and \\[trading] tables).")
]

ReportsOption = Annotated[Path, typer.Option("--reports", help="Folder for run folders (metrics, report.html).")]
NoReportOption = Annotated[bool, typer.Option("--no-report", help="Write no run folder.")]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback, exit code 2."""


def friendly_errors(func: F) -> F:
    """Turn user errors (bad config, bad file, bad argument) into one red line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UserError, ConfigError, ValueError, FileNotFoundError) as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def get_config(path: Path | None, model: dict[str, Any] | None = None,
               trading: dict[str, Any] | None = None) -> AppConfig:
    """Load ``--config`` and apply per-option overrides (``None`` values are ignored)."""
    return load_config(path, {"model": model or {}, "trading": trading or {}})


def split_symbols(symbols: str | None) -> list[str] | None:
    """``"AAPL, msft"`` → ``["AAPL", "MSFT"]``; ``None`` stays ``None``."""
    if symbols is None:
        return None
    items = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not items:
        raise UserError("--symbols is empty")
    return items
