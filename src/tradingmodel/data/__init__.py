"""Market data: the bar schema, CSV/Parquet files with validation, sessions and the simulator.

See ``docs/data.md``. ``tradingmodel.data.polygon`` (Polygon/Massive client) lives beside this.
"""

from tradingmodel.data.bars import read_bar_file, write_bars
from tradingmodel.data.sessions import (
    BARS_PER_SESSION,
    TIMESTAMP_DTYPE,
    last_bar_of_session,
    regular_hours,
    regular_hours_mask,
)
from tradingmodel.data.simulator import simulate
from tradingmodel.data.validation import BAR_COLUMNS, BarsSortedWarning, BarValidationError, validate_bars

__all__ = [
    "BARS_PER_SESSION",
    "BAR_COLUMNS",
    "TIMESTAMP_DTYPE",
    "BarValidationError",
    "BarsSortedWarning",
    "last_bar_of_session",
    "read_bar_file",
    "regular_hours",
    "regular_hours_mask",
    "simulate",
    "validate_bars",
    "write_bars",
]
