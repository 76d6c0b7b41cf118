"""The session's ``events`` rows: written in the slice's transaction, ids handed back for publishing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from tradingmodel.store.schema import Event, utcnow
from tradingmodel.store.sql import json_safe


@dataclass
class EventRow:
    """One event to append: ``type``, ``symbol`` or None, ``bar_time`` or None, ``data`` JSON."""

    type: str
    data: dict[str, Any]
    symbol: str | None = None
    bar_time: datetime | None = None
    id: int | None = None


#: orjson leaves these to ``json_safe`` (its own text for them would differ from what the JSON type writes)
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


_PG_EVENTS = (
    "INSERT INTO events (run_id, type, symbol, bar_time, data, created_at) "
    "SELECT %(run_id)s, u.e->>0, u.e->>1, (u.e->>2)::timestamptz, u.e->3, %(created)s "
    "FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS u(e, n) ORDER BY u.n RETURNING id"
)


def _bar_times(events: Sequence[EventRow], time_of: Any, then: Any = None) -> list[Any]:
    """Each event's ``bar_time`` through the column's bind processor ``time_of`` (and ``then``), computed once
    per distinct time: a slice's events mostly share one."""
    done: dict[Any, Any] = {None: None}
    out = []
    for e in events:
        bt = e.bar_time
        if bt not in done:
            v = time_of(bt) if time_of else bt
            done[bt] = then(v) if then else v
        out.append(done[bt])
    return out


def _json_text(data: Any) -> str | None:
    """``data`` as JSON text with orjson (~5x json.dumps, the same values; NaN and inf as null, as
    ``json_safe`` makes them), or None where orjson leaves it to ``json_safe`` (numpy values, datetimes, odd
    keys)."""
    try:
        return orjson.dumps(data, option=_PLAIN_JSON).decode()
    except TypeError:
        return None


class EventWriter:
    """Appends events of run ``run_id`` (statements and bind processors built once)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._stmts: dict[str, Any] = {}

    def write(self, conn: Connection, events: Sequence[EventRow]) -> list[EventRow]:
        """Insert ``events`` in this transaction; sets and returns them with their ids, in order."""
        if not events:
            return []
        now = utcnow()
        write = self._sqlite if conn.dialect.name == "sqlite" else self._postgres
        ids = write(conn, events, now)
        for e, i in zip(events, ids, strict=True):
            e.id = int(i)
        return list(events)

    def _processors(self, conn: Connection) -> tuple[Any, Any, Any]:
        """The bind processors of ``bar_time``, ``data`` and ``created_at`` on this dialect (None: as is)."""
        key = f"procs_{conn.dialect.name}"
        if key not in self._stmts:
            c = Event.__table__.c
            self._stmts[key] = tuple(
                col.type._cached_bind_processor(conn.dialect) for col in (c.bar_time, c.data, c.created_at)
            )
        return self._stmts[key]

    def _postgres(self, conn: Connection, events: Sequence[EventRow], now: datetime) -> list[int]:
        """All rows as one JSON array ``[[type, symbol, bar_time, data], ...]`` in one ``INSERT ... SELECT
        FROM jsonb_array_elements(...) WITH ORDINALITY ORDER BY ordinality RETURNING id``: a short statement,
        parsed and prepared once, and one parameter with nothing to escape. SQLAlchemy's own batch form
        (``insertmanyvalues``) spells every row's parameters into one statement, which psycopg re-parses per
        call (too long for its cache), and arrays of JSON text go through psycopg's per-element escaping:
        measured on 300 events (a 100-symbol slice), ~50 ms and ~9 ms against ~3 ms here. The ids come back
        sorted: the rows are inserted in ordinality order, so their ``BIGSERIAL`` values increase in that
        order, which SQLAlchemy's ``sort_by_parameter_order`` relies on for its INSERT ... SELECT ... ORDER BY
        form too."""
        time_of, _, created_of = self._processors(conn)
        rows = []
        for e, bt in zip(events, _bar_times(events, time_of, datetime.isoformat), strict=True):
            row = [e.type, e.symbol, bt, e.data]
            text = _json_text(row)
            rows.append(text if text is not None else orjson.dumps(row[:3] + [json_safe(e.data)]).decode())
        params = {"run_id": self.run_id, "created": created_of(now) if created_of else now}
        params["rows"] = "[" + ",".join(rows) + "]"
        got = conn.connection.driver_connection.execute(_PG_EVENTS, params)  # type: ignore[union-attr]
        return sorted(int(r[0]) for r in got.fetchall())

    def _sqlite(self, conn: Connection, events: Sequence[EventRow], now: datetime) -> list[int]:
        """The events' rows through the driver's ``executemany``, each value through its column's own bind
        processor (the stored text is what SQLAlchemy writes), and their ids.

        NaN and inf become null, as ``json_safe`` makes them. SQLAlchemy's per-row parameter handling was ~25 us
        per event, 8 ms of a 100-symbol slice, and json.dumps ~5 us; a slice's
        events share one ``created_at`` and (mostly) one ``bar_time``, processed once each here. And one
        INSERT ... RETURNING per row is what SQLAlchemy does on SQLite (it cannot batch RETURNING in parameter
        order there): instead, as SQLite has one writer and this transaction holds the write lock, this run's
        last ``len(events)`` ids are the rows just inserted."""
        time_of, data_of, created_of = self._processors(conn)
        created = created_of(now) if created_of else now
        rows = []
        for e, bt in zip(events, _bar_times(events, time_of), strict=True):
            text = _json_text(e.data)
            if text is None:  # numpy, datetimes, odd keys, ...: made storable first, as the JSON type does
                safe = json_safe(e.data)
                text = data_of(safe) if data_of else safe
            rows.append((self.run_id, e.type, e.symbol, bt, text, created))
        db = conn.connection.driver_connection  # inside this transaction (see session_sql.Prepared)
        db.executemany(  # type: ignore[union-attr]
            "INSERT INTO events (run_id, type, symbol, bar_time, data, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        newest = db.execute(  # type: ignore[union-attr]
            "SELECT id FROM events WHERE run_id = ? ORDER BY id DESC LIMIT ?", (self.run_id, len(rows))
        )
        return [int(r[0]) for r in newest.fetchall()][::-1]
