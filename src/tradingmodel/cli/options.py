"""The options shared by the commands, defined once: config, run folders, and the bar selection.

A command that reads bars declares one parameter ``inputs: BarOptions`` and is decorated with
:func:`bar_options`; typer then sees ``--data``, ``--symbols``, ``--from``, ``--to`` and ``--timeframe`` in
its place, with the same help everywhere, and the command receives them as one :class:`BarOptions`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

# The one time rule of the CLI, quoted in the options' help and in docs/data.md.
TIME_RULE = "New York exchange time unless it has an offset (Z, +00:00), a date is a New York date"

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (\\[model] and \\[trading] tables, docs/configuration.md)."),
]
ReportsOption = Annotated[Path, typer.Option("--reports", help="Folder for run folders (metrics, report.html).")]
NoReportOption = Annotated[bool, typer.Option("--no-report", help="Write no run folder.")]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL where the run is recorded (default: DATABASE_URL).")
]
NoDbOption = Annotated[bool, typer.Option("--no-db", help="Record nothing in the database (run folder only).")]

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Bar file (.csv/.parquet). Without it, bars come from the database (DATABASE_URL), "
        "selected by --symbols, --from and --to.",
    ),
]
SymbolsOption = Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols (default: all).")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help=f"Database only: first bar, a date or time, e.g. 2024-01-02 or 2024-01-02T09:30 ({TIME_RULE})."
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Database only: end, same form as --from; a date includes that whole New York day, a time is exclusive.",
    ),
]
TimeframeOption = Annotated[str, typer.Option("--timeframe", help="Database only: bar size, e.g. 1m, 5m, 1h, 1d.")]
# The shared options of the trading rules (backtest, walkforward).
BuyThresholdOption = Annotated[float | None, typer.Option(help="Long entry threshold (percent or sigmas).")]
SellThresholdOption = Annotated[float | None, typer.Option(help="Short entry threshold (percent or sigmas).")]


@dataclass(frozen=True)
class BarOptions:
    """``--data``, ``--symbols``, ``--from``, ``--to``, ``--timeframe`` as typed."""

    data: Path | None = None
    symbols: str | None = None
    start: str | None = None
    end: str | None = None
    timeframe: str = "1m"


_BAR_PARAMS = [
    inspect.Parameter("data", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DataOption),
    inspect.Parameter("symbols", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SymbolsOption),
    inspect.Parameter("start", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=FromOption),
    inspect.Parameter("end", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ToOption),
    inspect.Parameter("timeframe", inspect.Parameter.KEYWORD_ONLY, default="1m", annotation=TimeframeOption),
]
F = TypeVar("F", bound=Callable[..., Any])


def bar_options(func: F) -> F:
    """Replace ``func``'s ``inputs: BarOptions`` parameter by the five bar-selection options."""
    sig = inspect.signature(func, eval_str=True)
    if "inputs" not in sig.parameters:
        raise TypeError(f"{func.__name__}: @bar_options needs an `inputs: BarOptions` parameter")
    names = [p.name for p in _BAR_PARAMS]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        picked = {n: kwargs.pop(n) for n in names if n in kwargs}
        return func(*args, inputs=BarOptions(**picked), **kwargs)

    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.name == "inputs":
            params += _BAR_PARAMS
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    hints = {p.name: p.annotation for p in params}
    hints.pop("inputs", None)
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, "return": None}
    del wrapper.__wrapped__  # typer reads the signature above, not the wrapped function's
    return wrapper  # type: ignore[return-value]
