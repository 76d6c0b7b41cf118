"""Reads of one paper/live session's rows (orders, fills, positions, events): the read half of
:class:`tradingmodel.store.sessions.SessionStore`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, select

from tradingmodel.store.schema import Event, Fill, Order, Position
from tradingmodel.store.session_sql import FILL_BY_BROKER_ID

OPEN_STATUSES = ("new", "submitted", "partially_filled")

# the two reads a slice can make, built once (see session_sql): ~0.3 ms each to build per call, measured
_KNOWN_FILLS = select(Fill.broker_fill_id).where(Fill.broker_fill_id.in_(bindparam("ids", expanding=True)))
_ORDER = select(Order.__table__).where(Order.run_id == bindparam("rid"), Order.client_order_id == bindparam("cid"))


class SessionReader:
    """Reads of session ``run_id``, each on its own connection."""

    def __init__(self, engine: Engine, run_id: int) -> None:
        self.engine = engine
        self.run_id = run_id

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders of this session not yet terminal, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Order.__table__)
                .where(Order.run_id == self.run_id, Order.status.in_(OPEN_STATUSES))
                .order_by(Order.id)
            )
            return [dict(r._mapping) for r in rows]

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """One order of this session by client id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_ORDER, {"rid": self.run_id, "cid": client_order_id}).first()
            return None if row is None else dict(row._mapping)

    def known_fills(self, fill_ids: Sequence[str]) -> set[str]:
        """Those of ``fill_ids`` already recorded (a fill is applied once)."""
        with self.engine.connect() as conn:
            if len(fill_ids) <= 8:  # a slice's few: one prepared lookup each costs less than building the IN list
                return {f for f in fill_ids if FILL_BY_BROKER_ID.first(conn, {"fid": f}) is not None}
            rows = conn.execute(_KNOWN_FILLS, {"ids": list(fill_ids)})
            return {r[0] for r in rows}

    def orders(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Order.__table__).where(Order.run_id == self.run_id).order_by(Order.id))
            return [dict(r._mapping) for r in rows]

    def fills(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Fill.__table__, Order.client_order_id, Order.reason)
                .join(Order, Order.id == Fill.order_id)
                .where(Order.run_id == self.run_id)
                .order_by(Fill.id)
            )
            return [dict(r._mapping) for r in rows]

    def positions(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Position.__table__).where(Position.run_id == self.run_id))
            return {r.symbol: dict(r._mapping) for r in rows}

    def events(self, after: int = 0, types: Sequence[str] | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            stmt = select(Event.__table__).where(Event.run_id == self.run_id, Event.id > after)
            if types:
                stmt = stmt.where(Event.type.in_(list(types)))
            return [dict(r._mapping) for r in conn.execute(stmt.order_by(Event.id))]
