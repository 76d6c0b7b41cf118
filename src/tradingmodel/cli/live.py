"""``tradingmodel live --broker alpaca --confirm-live``: ``paper``'s session on a live-money Alpaca account.

The options are ``paper``'s (:mod:`.paper`) plus ``--confirm-live``, without which it refuses to start; the
base URL then defaults to Alpaca's live endpoint (``APCA_API_BASE_URL`` when set to another). ``paper --broker
alpaca`` in turn refuses a live-money URL, so real money is never traded by accident.
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any

import typer

from tradingmodel.cli.errors import add_command
from tradingmodel.cli.paper import _paper, run_command


def _live(**opts: Any) -> None:
    """Trade a live-money Alpaca account (real orders, real money) with the backtest's rules; needs
    --broker alpaca and --confirm-live."""
    confirm = bool(opts.pop("confirm_live"))
    run_command(opts, live=True, confirm_live=confirm)


_CONFIRM = inspect.Parameter(
    "confirm_live",
    inspect.Parameter.KEYWORD_ONLY,
    default=False,
    annotation=Annotated[bool, typer.Option("--confirm-live", help="Required: yes, send real orders with real money.")],
)


def _signature() -> inspect.Signature:
    """``paper``'s options (resolved) plus ``--confirm-live``; typer reads the command's options from it."""
    hints = typing.get_type_hints(_paper, include_extras=True)
    params = [
        p.replace(annotation=hints[p.name], kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(_paper).parameters.values()
    ]
    return inspect.Signature([*params, _CONFIRM], return_annotation=None)


_live.__signature__ = _signature()  # type: ignore[attr-defined]
_live.__annotations__ = {p.name: p.annotation for p in _live.__signature__.parameters.values()}  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add ``live`` to the main app."""
    add_command(app, "live", _live)
