"""The session writer's statements, built once with bind parameters, and :class:`Prepared` to run them.

Building a SQLAlchemy statement (``select(...).where(...)``, ``insert(...).values(...)``) and computing its
cache key cost ~60 us a call here, several times what running it costs (a prebuilt one with its parameters:
~13 us on SQLite, measured). A slice with a fill ran ~13 of them, so the writer keeps these and passes values.

On SQLite, :class:`Prepared` goes one step further: it compiles a statement once and hands the SQL and the
parameters (each through its column type's own bind processor, so the stored text is SQLAlchemy's) to the
driver's cursor, inside the transaction SQLAlchemy opened on that connection. SQLAlchemy's execute path is
~100 Python calls a statement; inside the engine, after the model's call has pushed them out of the caches,
those calls cost 2-4x what they do in a loop (a status change: 0.18 ms alone, 0.7 ms in a session, measured).
On PostgreSQL (where a statement is a network round trip) it is ``Connection.execute``.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, update

from tradingmodel.store.schema import Fill, Order, Position, Prediction


class Prepared:
    """``stmt`` compiled once for SQLite (with ``keys`` as its columns, for an INSERT: pass every one of them).

    :meth:`run` executes, :meth:`run_many` executes once per parameter dict, :meth:`first` returns the first
    row as a tuple (or None); parameters are dicts keyed by bind (or column) name."""

    def __init__(self, stmt: Any, keys: Sequence[str] | None = None, row: type | None = None) -> None:
        self.stmt = stmt
        self.keys = list(keys) if keys is not None else None
        self.row = row  # a namedtuple class for :meth:`first`'s rows
        self._sqlite: tuple[str, list[tuple[str, Callable[[Any], Any] | None]]] | None = None

    def _plan(self, conn: Connection) -> tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]:
        if self._sqlite is None:
            d = conn.dialect
            c = self.stmt.compile(dialect=d, column_keys=self.keys)
            names = c.positiontup or []
            self._sqlite = (c.string, [(n, c.binds[n].type.dialect_impl(d).bind_processor(d)) for n in names])
        return self._sqlite

    def _values(self, plan: list[tuple[str, Callable[[Any], Any] | None]], params: Mapping[str, Any]) -> list[Any]:
        try:
            return [params[n] if proc is None else proc(params[n]) for n, proc in plan]
        except KeyError as e:
            raise KeyError(
                f"parameter {e.args[0]!r} not given for: {self._sqlite[0][:80] if self._sqlite else ''}"
            ) from None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> None:
        if conn.dialect.name != "sqlite":
            conn.execute(self.stmt, dict(params))
            return
        sql, plan = self._plan(conn)
        conn.connection.driver_connection.execute(sql, self._values(plan, params))  # type: ignore[union-attr]

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        sql, plan = self._plan(conn)
        conn.connection.driver_connection.executemany(sql, [self._values(plan, r) for r in rows])  # type: ignore[union-attr]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        if conn.dialect.name != "sqlite":
            got = conn.execute(self.stmt, dict(params)).first()
        else:
            sql, plan = self._plan(conn)
            got = conn.connection.driver_connection.execute(sql, self._values(plan, params)).fetchone()  # type: ignore[union-attr]
        if got is None:
            return None
        return self.row._make(got) if self.row is not None else tuple(got)


ORDER_COLUMNS = (
    "run_id",
    "client_order_id",
    "broker_order_id",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "stop_price",
    "status",
    "reason",
    "bar_time",
    "filled_quantity",
    "message",
    "parent_client_order_id",
    "created_at",
    "updated_at",
)
FILL_COLUMNS = ("order_id", "symbol", "side", "quantity", "price", "commission", "timestamp", "broker_fill_id")
POSITION_COLUMNS = ("run_id", "symbol", "quantity", "avg_price", "realized_pnl", "updated_at")

#: (id, status, filled_quantity, quantity, symbol, reason) of an order by client id
ORDER_BY_CID = Prepared(
    select(Order.id, Order.status, Order.filled_quantity, Order.quantity, Order.symbol, Order.reason).where(
        Order.client_order_id == bindparam("cid")
    ),
    row=namedtuple("OrderRow", "id status filled_quantity quantity symbol reason"),
)
#: every column given, so that one compiled INSERT serves every order
INSERT_ORDER = Prepared(insert(Order), ORDER_COLUMNS)


def _update_by_id(entity: Any, key: str, **values: Any) -> Prepared:
    """``UPDATE`` of one row of ``entity`` by its id (bind ``key``) setting ``values``."""
    return Prepared(update(entity).where(entity.id == bindparam(key)).values(**values))


#: a status change; the broker's order id and message replace the stored ones only when given
ORDER_STATUS = _update_by_id(
    Order,
    "oid",
    status=bindparam("new_status"),
    updated_at=bindparam("now"),
    broker_order_id=func.coalesce(bindparam("boid", type_=Order.broker_order_id.type), Order.broker_order_id),
    message=func.coalesce(bindparam("msg", type_=Order.message.type), Order.message),
)
ORDER_FILLED = _update_by_id(
    Order, "oid", filled_quantity=bindparam("filled"), status=bindparam("new_status"), updated_at=bindparam("now")
)

FILL_BY_BROKER_ID = Prepared(select(Fill.id).where(Fill.broker_fill_id == bindparam("fid")))
INSERT_FILL = Prepared(insert(Fill), FILL_COLUMNS)

#: (id, quantity, avg_price, realized_pnl) of a run's position in a symbol
POSITION_OF = Prepared(
    select(Position.id, Position.quantity, Position.avg_price, Position.realized_pnl).where(
        Position.run_id == bindparam("rid"), Position.symbol == bindparam("sym")
    ),
    row=namedtuple("PositionRow", "id quantity avg_price realized_pnl"),
)
INSERT_POSITION = Prepared(insert(Position), POSITION_COLUMNS)
UPDATE_POSITION = _update_by_id(
    Position,
    "pid",
    quantity=bindparam("q"),
    avg_price=bindparam("avg"),
    realized_pnl=bindparam("pnl"),
    updated_at=bindparam("now"),
)

#: every statement above, compiled up front by :func:`prepare`
ALL = (ORDER_BY_CID, INSERT_ORDER, ORDER_STATUS, ORDER_FILLED, FILL_BY_BROKER_ID, INSERT_FILL, POSITION_OF)
ALL += (INSERT_POSITION, UPDATE_POSITION)


def prepare(conn: Connection, more: Sequence[Prepared] = ()) -> None:
    """Compile every statement above (and ``more``) for ``conn``'s dialect now (SQLite), so that a session's
    first fill does not compile them inside its slice (~1 ms, measured)."""
    if conn.dialect.name == "sqlite":
        for p in (*ALL, *more):
            p._plan(conn)


_PG_PREDICTIONS = (
    "INSERT INTO predictions (model_id, symbol, timeframe, horizon, timestamp, predicted_price, confidence, "
    "signals, created_at) SELECT (r->>0)::bigint, r->>1, r->>2, (r->>3)::int, (r->>4)::timestamptz, "
    "(r->>5)::float8, (r->>6)::float8, r->7, (r->>8)::timestamptz FROM jsonb_array_elements(%(rows)s::jsonb) AS r "
    "ON CONFLICT (model_id, symbol, timeframe, horizon, timestamp) DO UPDATE SET "
    "predicted_price = excluded.predicted_price, confidence = excluded.confidence, signals = excluded.signals"
)


def pg_predictions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> bool:
    """On PostgreSQL, upsert a slice's prediction rows in one statement (a JSON array through
    ``jsonb_array_elements``) instead of one statement a row: a float goes through JSON as its shortest
    repr, which ``float8`` reads back to the same double. Returns False, writing nothing, where a row cannot
    go that way (a non-finite price or confidence, which JSON cannot carry, or data orjson does not take):
    the caller writes those rows the usual way."""
    time_of = Prediction.__table__.c.timestamp.type._cached_bind_processor(conn.dialect)  # also created_at's type
    out = []
    try:  # a bad time or value raises here as in the row-by-row way, which then reports it
        for r in rows:
            price, conf = r["predicted_price"], r["confidence"]
            if not math.isfinite(price) or (conf is not None and not math.isfinite(conf)):
                return False
            stamp, created = (time_of(r[k]) if time_of else r[k] for k in ("timestamp", "created_at"))
            item = [r["model_id"], r["symbol"], r["timeframe"], r["horizon"], stamp.isoformat(), price, conf]
            item += [r["signals"], created.isoformat()]
            out.append(orjson.dumps(item).decode())
    except (TypeError, ValueError):
        return False
    conn.connection.driver_connection.execute(_PG_PREDICTIONS, {"rows": "[" + ",".join(out) + "]"})  # type: ignore[union-attr]
    return True
