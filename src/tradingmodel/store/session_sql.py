"""The session writer's statements, built once with bind parameters.

Building a SQLAlchemy statement (``select(...).where(...)``, ``insert(...).values(...)``) and computing its
cache key cost ~60 us a call here, several times what running it costs (a prebuilt one with its parameters:
~13 us on SQLite, measured). A slice with a fill ran ~13 of them, so the writer keeps these and passes values.
The same objects serve SQLite and PostgreSQL; each engine compiles them once and caches the SQL.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update

from tradingmodel.store.schema import Fill, Order, Position

ORDER_BY_CID = select(Order.id, Order.status, Order.filled_quantity, Order.quantity, Order.symbol, Order.reason).where(
    Order.client_order_id == bindparam("cid")
)

#: every column given (see :data:`ORDER_COLUMNS`), so that one compiled INSERT serves every order
INSERT_ORDER = insert(Order)
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

#: a status change; the broker's order id and message replace the stored ones only when given
ORDER_STATUS = (
    update(Order)
    .where(Order.id == bindparam("oid"))
    .values(
        status=bindparam("new_status"),
        updated_at=bindparam("now"),
        broker_order_id=func.coalesce(bindparam("boid", type_=Order.broker_order_id.type), Order.broker_order_id),
        message=func.coalesce(bindparam("msg", type_=Order.message.type), Order.message),
    )
)

ORDER_FILLED = (
    update(Order)
    .where(Order.id == bindparam("oid"))
    .values(filled_quantity=bindparam("filled"), status=bindparam("new_status"), updated_at=bindparam("now"))
)

FILL_BY_BROKER_ID = select(Fill.id).where(Fill.broker_fill_id == bindparam("fid"))
INSERT_FILL = insert(Fill)

POSITION_OF = select(Position.id, Position.quantity, Position.avg_price, Position.realized_pnl).where(
    Position.run_id == bindparam("rid"), Position.symbol == bindparam("sym")
)
INSERT_POSITION = insert(Position)
UPDATE_POSITION = (
    update(Position)
    .where(Position.id == bindparam("pid"))
    .values(
        quantity=bindparam("q"), avg_price=bindparam("avg"), realized_pnl=bindparam("pnl"), updated_at=bindparam("now")
    )
)
