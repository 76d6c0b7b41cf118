"""One way for every command to fail: ``error: <one line>`` on stderr and exit code 2, no traceback.

Every command is registered with :func:`add_command`, which wraps it in :func:`friendly_errors` (user errors
→ one red line, exit 2; Ctrl-C → exit 130; warnings → one ``note:`` line each, without Python's source line)
and gives it :class:`Command`, whose help shows flags without a value placeholder (typer prints
``--null <bool>`` for a flag that takes no value).
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup, TyperOption

console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback, exit code 2."""


class Interrupted(Exception):
    """Ctrl-C was handled (what could be kept was saved); the message says what was kept. Exit code 130."""


def one_line(text: object) -> str:
    """``text`` on one line: the CLI's errors and notes never span lines."""
    return " ".join(str(text).split())


def print_error(message: object) -> None:
    """``error: message`` in red on stderr, markup in the message shown as typed (``[model]`` stays)."""
    console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)


def print_note(message: object, label: str = "note") -> None:
    """``note: message`` in yellow on stderr."""
    console.print(f"[yellow]{label}:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Our own warnings (e.g. "sorted the file") are notes; a library's is a one-line warning."""
    if category.__module__.startswith("tradingmodel"):
        print_note(message)
    else:
        print_note(f"{message} ({category.__name__})", label="warning")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the input's fault: ValueError covers ConfigError, BarValidationError,
    CheckpointError and StoreError; OSError covers missing, unreadable and unwritable files."""
    return (UserError, ValueError, OSError)


def _database_unreachable(e: Exception) -> str | None:
    """The reason a database could not be reached (server down, wrong password, bad file), else ``None``."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError

    if not isinstance(e, OperationalError):
        return None
    orig = getattr(e, "orig", None) or e
    return f"cannot use the database: {str(orig).splitlines()[0] if str(orig) else type(orig).__name__}"


def friendly_errors(func: F) -> F:
    """Turn user errors (bad config, bad file, bad argument) into one red line and exit code 2; Ctrl-C into
    exit code 130; warnings into one-line notes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():  # Python's filters stay; only the printing changes
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except Interrupted as e:
                print_note(e, label="interrupted")
                sys.exit(EXIT_INTERRUPTED)
            except KeyboardInterrupt:
                print_note("stopped by Ctrl-C", label="interrupted")
                sys.exit(EXIT_INTERRUPTED)
            except _user_errors() as e:
                print_error(e)
                sys.exit(EXIT_USER_ERROR)
            except Exception as e:
                reason = _database_unreachable(e)
                if reason is None:
                    raise
                print_error(reason)
                sys.exit(EXIT_USER_ERROR)

    return wrapper  # type: ignore[return-value]


def _hide_flag_types(params: list[Any]) -> None:
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""  # typer shows the metavar as the type column; a flag takes no value


class Command(TyperCommand):
    """A typer command whose help shows flags without ``<bool>``."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types(self.get_params(ctx))
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    """The same for a command group (``tradingmodel --help``, ``tradingmodel db --help``)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types(self.get_params(ctx))
        super().format_help(ctx, formatter)


def add_command(app: typer.Typer, name: str, func: Callable[..., Any]) -> None:
    """Register ``func`` as command ``name`` with the shared error handling and help format."""
    app.command(name, cls=Command)(friendly_errors(func))
