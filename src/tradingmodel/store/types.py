"""Column types and small value helpers shared by the schema, ingestion and reading code.

* :class:`UTCDateTime` stores timestamps with time zone on PostgreSQL (``TIMESTAMPTZ``) and as a fixed-width
  UTC string on SQLite, and always returns tz-aware UTC datetimes. Naive datetimes are rejected: a bar time
  without a zone is ambiguous, and guessing is how off-by-hours bugs get in.
* :data:`JSONType` is ``JSONB`` on PostgreSQL and ``JSON`` (text) elsewhere.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; BIGINT elsewhere.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

_TIMEFRAME = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class StoreError(ValueError):
    """A storage problem the user can act on (bad timeframe, unknown symbol, outdated schema...).

    A :class:`ValueError`, so the CLI's ``friendly_errors`` prints it as one line.
    """


def parse_timeframe(timeframe: str) -> tuple[str, timedelta]:
    """Normalise ``"1m"``/``"5m"``/``"1s"``/``"1h"``/``"1d"`` (number + unit s/m/h/d).

    Returns the canonical string (``"05m"`` becomes ``"5m"``) and the bar length.
    """
    m = _TIMEFRAME.match(str(timeframe))
    if not m or int(m.group(1)) <= 0:
        raise StoreError(f"bad timeframe {timeframe!r}: expected a positive number and a unit s/m/h/d, e.g. '1m'")
    n, unit = int(m.group(1)), m.group(2)
    return f"{n}{unit}", timedelta(seconds=n * _UNIT_SECONDS[unit])


def to_utc(value: datetime | date | str | pd.Timestamp, *, name: str = "timestamp") -> datetime:
    """Convert a datetime, date or ISO string to an aware UTC ``datetime``.

    Naive values and date-only strings are taken as UTC (the CLI's ``--from 2024-01-02`` means midnight UTC).
    """
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except ValueError as e:
            raise StoreError(f"{name}: cannot parse {value!r} as a date/time") from e
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            raise StoreError(f"{name}: missing date/time")
        value = value.to_pydatetime()
    if not isinstance(value, datetime):  # a plain date
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamp with time zone in, aware UTC datetime out, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given: use a time-zone aware (UTC) value")
        value = value.astimezone(UTC)
        # SQLite's DATETIME stores the wall clock only: we store UTC and drop the (now redundant) zone.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
