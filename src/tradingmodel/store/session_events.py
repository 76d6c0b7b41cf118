"""The session's ``events`` rows: written in the slice's transaction, ids handed back for publishing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert

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
        if conn.dialect.name == "sqlite":
            ids = self._sqlite(conn, events, now)
        else:
            if "events_returning" not in self._stmts:  # built once: building costs more than running it
                self._stmts["events_returning"] = insert(Event).returning(Event.id, sort_by_parameter_order=True)
            rows = [
                {
                    "run_id": self.run_id,
                    "type": e.type,
                    "symbol": e.symbol,
                    "bar_time": e.bar_time,
                    "data": json_safe(e.data),
                    "created_at": now,
                }
                for e in events
            ]
            ids = conn.execute(self._stmts["events_returning"], rows).scalars().all()
        for e, i in zip(events, ids, strict=True):
            e.id = int(i)
        return list(events)

    def _sqlite(self, conn: Connection, events: Sequence[EventRow], now: datetime) -> list[int]:
        """The events' rows through the driver's ``executemany``, each value through its column's own bind
        processor (the stored text is what SQLAlchemy writes), and their ids.

        NaN and inf become null, as ``json_safe`` makes them. SQLAlchemy's per-row parameter handling was ~25 us
        per event, 8 ms of a 100-symbol slice, and json.dumps ~5 us; a slice's
        events share one ``created_at`` and (mostly) one ``bar_time``, processed once each here. And one
        INSERT ... RETURNING per row is what SQLAlchemy does on SQLite (it cannot batch RETURNING in parameter
        order there): instead, as SQLite has one writer and this transaction holds the write lock, this run's
        last ``len(events)`` ids are the rows just inserted."""
        if "sqlite_events" not in self._stmts:
            c = Event.__table__.c
            procs = tuple(col.type._cached_bind_processor(conn.dialect) for col in (c.bar_time, c.data, c.created_at))
            self._stmts["sqlite_events"] = procs
        time_of, data_of, created_of = self._stmts["sqlite_events"]
        created = created_of(now) if created_of else now
        times: dict[Any, Any] = {None: None}
        rows = []
        for e in events:
            bt = e.bar_time
            if bt not in times:
                times[bt] = time_of(bt) if time_of else bt
            try:  # plain data (most events) straight to JSON text: orjson, ~5x json.dumps (the same values)
                text = orjson.dumps(e.data, option=_PLAIN_JSON).decode()
            except TypeError:  # numpy, datetimes, odd keys, ...: made storable first, as the JSON type does
                safe = json_safe(e.data)
                text = data_of(safe) if data_of else safe
            rows.append((self.run_id, e.type, e.symbol, times[bt], text, created))
        db = conn.connection.driver_connection  # inside this transaction (see session_sql.Prepared)
        db.executemany(  # type: ignore[union-attr]
            "INSERT INTO events (run_id, type, symbol, bar_time, data, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        newest = db.execute(  # type: ignore[union-attr]
            "SELECT id FROM events WHERE run_id = ? ORDER BY id DESC LIMIT ?", (self.run_id, len(rows))
        )
        return [int(r[0]) for r in newest.fetchall()][::-1]
