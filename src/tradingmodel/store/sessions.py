"""Paper/live sessions in the store: one run per session name, snapshots, orders, fills, positions, events.

Each public writer is one transaction, in the order the engine needs for crash safety:

* :meth:`SessionStore.commit_slice`: a time slice's fills (by unique ``broker_fill_id``, with the positions
  they change), its decisions (orders ``new``), its predictions, the strategy snapshot and the last bar,
  and their events. Committed **before** any of the slice's orders is submitted.
* :meth:`SessionStore.record_fills`: fills that arrive outside a slice (market-on-close, reconciliation, a
  broker's last fills), with the positions, order status changes and the strategy snapshot that has them.
* :meth:`SessionStore.set_status`: an order's move through the state machine (:mod:`execution.orders`).

A fill whose ``broker_fill_id`` is already stored is skipped, with its position change: a fill delivered
twice is applied once. Events get their ids from the database (monotonic) and are returned so that the
engine can publish them in-process after the commit. The statements are in :mod:`.session_sql`, the events
writer in :mod:`.session_events`, the readers in :mod:`.session_reads`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from tradingmodel.execution.orders import FillReport, OrderRequest, OrderUpdate, advance
from tradingmodel.store import session_sql as Q
from tradingmodel.store.ingest import write_transaction
from tradingmodel.store.schema import Prediction, Run, SessionState, utcnow
from tradingmodel.store.session_events import EventRow, EventWriter
from tradingmodel.store.session_reads import OPEN_STATUSES, SessionReader
from tradingmodel.store.sql import json_safe, upsert
from tradingmodel.store.types import StoreError, to_utc

__all__ = ["OPEN_STATUSES", "EventRow", "SessionInfo", "SessionStore", "SliceWrite", "open_session"]


@dataclass
class SessionInfo:
    """A session's run and where it stopped (``snapshot`` None for a new session)."""

    run_id: int
    name: str
    resumed: bool
    snapshot: bytes | None = None
    format_version: int | None = None
    last_bar_time: datetime | None = None
    created_at: datetime | None = None  # when the session's run was first created (UTC)


@dataclass
class SliceWrite:
    """What one slice commits (see the module docstring)."""

    bar_time: datetime | None
    snapshot: bytes
    format_version: int
    fills: list[FillReport] = field(default_factory=list)
    legs: list[dict[str, Any]] = field(default_factory=list)  # protective orders the executor opened
    orders: list[OrderRequest] = field(default_factory=list)  # decisions, stored as `new`
    updates: list[OrderUpdate] = field(default_factory=list)  # status changes seen with the fills
    predictions: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)


def open_session(
    engine: Engine,
    name: str,
    *,
    symbols: Sequence[str],
    config_toml: str,
    kind: str = "paper",
    model_id: int | None = None,
    notes: str | None = None,
) -> SessionInfo:
    """The run of session ``name`` (created when new) with its last snapshot. Refuses a session of the same
    name with other symbols or of another kind: continuing it would mix two books."""
    with write_transaction(engine) as conn:
        row = conn.execute(select(Run.id, Run.kind, Run.symbols, Run.created_at).where(Run.name == name)).first()
        if row is None:
            now = utcnow()
            run_id = int(
                conn.execute(
                    insert(Run)
                    .values(
                        name=name,
                        kind=kind,
                        status="running",
                        config_toml=config_toml,
                        metrics={},
                        symbols=list(symbols),
                        model_id=model_id,
                        notes=notes,
                        created_at=now,
                    )
                    .returning(Run.id)
                ).scalar_one()
            )
            return SessionInfo(run_id, name, resumed=False, created_at=to_utc(now))
        if row.kind != kind or list(row.symbols) != list(symbols):
            raise StoreError(
                f"session {name!r} exists as a {row.kind} session of {','.join(row.symbols)}; "
                f"give another --session to trade {','.join(symbols)}"
            )
        conn.execute(update(Run).where(Run.id == row.id).values(status="running", finished_at=None))
        st = conn.execute(
            select(SessionState.snapshot, SessionState.format_version, SessionState.last_bar_time).where(
                SessionState.run_id == row.id
            )
        ).first()
        created = to_utc(row.created_at)
        if st is None:
            return SessionInfo(int(row.id), name, resumed=True, created_at=created)
        return SessionInfo(
            int(row.id), name, True, bytes(st.snapshot), st.format_version, st.last_bar_time, created_at=created
        )


PREDICTION_KEYS = ["model_id", "symbol", "timeframe", "horizon", "timestamp"]


def _signed(side: str, qty: float) -> float:
    return qty if side == "buy" else -qty


#: WAL pages the engine aims to copy per checkpoint between slices (a quarter of SQLite's automatic threshold)
WAL_CHECKPOINT_PAGES = 250


class SessionStore(SessionReader):
    """Writes and reads one session's rows; ``crash`` is called at the test-only crash points."""

    def __init__(self, engine: Engine, run_id: int, crash: Callable[[str], None] = lambda _p: None) -> None:
        super().__init__(engine, run_id)
        self.crash = crash
        self._event_writer = EventWriter(run_id)
        self._every, self._calls = 8, 0  # checkpoint() interval in calls, and calls since the last one
        with engine.connect() as conn:  # the two upserts depend on the dialect: built (and compiled) once here
            state_cols = ["format_version", "last_bar_time", "snapshot", "updated_at"]
            self._prediction_upsert = Q.Prepared(
                upsert(conn, Prediction.__table__, PREDICTION_KEYS, ["predicted_price", "confidence", "signals"]),
                [*PREDICTION_KEYS, "predicted_price", "confidence", "signals", "created_at"],
            )
            self._state_upsert = Q.Prepared(
                upsert(conn, SessionState.__table__, ["run_id"], state_cols), ["run_id", *state_cols]
            )
            Q.prepare(conn, [self._prediction_upsert, self._state_upsert])

    # --- writers -------------------------------------------------------------------------------
    def checkpoint(self) -> bool:
        """On SQLite, every few calls copy the write-ahead log into the database (PASSIVE: never waits for
        readers), so that SQLite's automatic checkpoint (at 1,000 pages, inside whichever COMMIT crosses it:
        ~5 ms measured) does not fall inside a decision commit. The engine calls it after each slice's submits;
        the interval adapts so that about :data:`WAL_CHECKPOINT_PAGES` pages are copied each time. Returns
        whether it ran; no-op on PostgreSQL and in-memory SQLite."""
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return False
        self._calls += 1
        if self._calls < self._every:
            return False
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").first()
        pages = int(row[1]) if row is not None and row[1] > 0 else 0  # -1: not in WAL mode
        self._every = max(1, min(1000, self._every * WAL_CHECKPOINT_PAGES // max(pages, 1)))
        self._calls = 0
        return True

    def commit_slice(self, w: SliceWrite) -> list[EventRow]:
        """Fills + positions, decisions, predictions, snapshot and events of one slice, in one transaction."""
        return self._write(w, (), "slice_before_commit")

    def _write(self, w: SliceWrite, first: Sequence[EventRow], point: str | None) -> list[EventRow]:
        """The one writer of :meth:`commit_slice` and :meth:`record_fills` (``first``: events before those of
        the fills; ``point``: the crash point before COMMIT)."""
        with write_transaction(self.engine) as conn:
            events = list(first) + list(w.events)
            self._insert_legs(conn, w.legs)
            events += self._apply_fills(conn, w.fills)
            for u in w.updates:
                events += self._status(conn, u)
            for o in w.orders:
                self._insert_order(
                    conn,
                    o.client_order_id,
                    "new",
                    o.purpose,
                    symbol=o.symbol,
                    side=o.side,
                    quantity=o.quantity,
                    order_type=o.order_type,
                    limit_price=o.limit_price,
                    stop_price=o.stop_price,
                    bar_time=o.bar_time,
                    parent_client_order_id=o.parent_client_order_id,
                )
            if w.predictions and not (conn.dialect.name == "postgresql" and Q.pg_predictions(conn, w.predictions)):
                self._prediction_upsert.run_many(conn, w.predictions)
            self._snapshot(conn, w.snapshot, w.format_version, w.bar_time)
            if point is not None:
                self.crash(point)
            return self._events(conn, events)

    def record_fills(
        self,
        fills: Sequence[FillReport],
        snapshot: bytes,
        format_version: int,
        bar_time: datetime | None,
        legs: Sequence[dict[str, Any]] = (),
        events: Sequence[EventRow] = (),
        updates: Sequence[OrderUpdate] = (),
    ) -> list[EventRow]:
        """Fills outside a slice (market-on-close, reconciliation) with their positions, order status changes
        (after the fills) and the strategy snapshot that has them, in one transaction."""
        return self._write(
            SliceWrite(bar_time, snapshot, format_version, list(fills), list(legs), updates=list(updates)),
            list(events),
            None,
        )

    def set_status(self, updates: Iterable[OrderUpdate], events: Sequence[EventRow] = ()) -> list[EventRow]:
        """Order status changes (state machine enforced; a stale update is ignored) in one transaction."""
        with write_transaction(self.engine) as conn:
            ev = list(events)
            for u in updates:
                ev += self._status(conn, u)
            return self._events(conn, ev)

    def append_events(self, events: Sequence[EventRow]) -> list[EventRow]:
        with write_transaction(self.engine) as conn:
            return self._events(conn, events)

    def finish(self, status: str, metrics: dict[str, Any]) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(status=status, metrics=json_safe(metrics), finished_at=utcnow())
            )

    # --- inside a transaction ------------------------------------------------------------------
    def _insert_legs(self, conn: Connection, legs: Sequence[dict[str, Any]]) -> None:
        for leg in legs:
            if Q.ORDER_BY_CID.first(conn, {"cid": leg["cid"]}) is not None:
                continue
            self._insert_order(
                conn,
                leg["cid"],
                "submitted",
                leg["purpose"],
                broker_order_id=leg.get("broker_order_id") or "paper-" + leg["cid"],
                symbol=leg["symbol"],
                side=leg["side"],
                quantity=leg["quantity"],
                order_type=leg["order_type"],
                limit_price=leg.get("limit_price"),
                stop_price=leg.get("stop_price"),
                bar_time=to_utc(leg["bar_time"]) if leg.get("bar_time") else None,
                parent_client_order_id=leg.get("parent") or leg.get("parent_client_order_id"),
            )

    def _insert_order(self, conn: Connection, cid: str, status: str, reason: str, **fields: Any) -> None:
        """One order row of this session (a decision ``new``, or a protective leg the executor opened)."""
        now = utcnow()
        row = dict.fromkeys(Q.ORDER_COLUMNS)
        row.update(fields, order_type=fields.get("order_type") or "market", filled_quantity=0.0)
        row.update(
            run_id=self.run_id, client_order_id=cid, status=status, reason=reason, created_at=now, updated_at=now
        )
        Q.INSERT_ORDER.run(conn, row)

    def _order_row(self, conn: Connection, cid: str) -> Any:
        row = Q.ORDER_BY_CID.first(conn, {"cid": cid})
        if row is None:
            raise StoreError(f"order {cid}: not in session {self.run_id} (a fill or update for an unknown order)")
        return row

    def _status(self, conn: Connection, u: OrderUpdate) -> list[EventRow]:
        row = self._order_row(conn, u.client_order_id)
        if row.status == u.status and u.status != "partially_filled":
            return []
        from tradingmodel.execution.orders import can_advance

        if not can_advance(row.status, u.status):
            return []  # stale or replayed: the machine never goes backwards
        advance(u.client_order_id, row.status, u.status)
        Q.ORDER_STATUS.run(
            conn,
            {
                "oid": row.id,
                "new_status": u.status,
                "now": utcnow(),
                "boid": u.broker_order_id or None,  # kept unless given
                "msg": u.message or None,
            },
        )
        return [
            EventRow(
                "order",
                {
                    "client_order_id": u.client_order_id,
                    "status": u.status,
                    "previous": row.status,
                    "purpose": row.reason,
                    "message": u.message,
                    "filled_quantity": u.filled_quantity,
                },
                symbol=row.symbol,
            )
        ]

    def _apply_fills(self, conn: Connection, fills: Sequence[FillReport]) -> list[EventRow]:
        out: list[EventRow] = []
        for f in fills:
            if Q.FILL_BY_BROKER_ID.first(conn, {"fid": f.fill_id}) is not None:
                continue  # delivered before: applied once
            row = self._order_row(conn, f.client_order_id)
            Q.INSERT_FILL.run(
                conn,
                {
                    "order_id": row.id,
                    "symbol": f.symbol,
                    "side": f.side,
                    "quantity": f.quantity,
                    "price": f.price,
                    "commission": f.commission,
                    "timestamp": f.timestamp,
                    "broker_fill_id": f.fill_id,
                },
            )
            self.crash("fill_before_position")
            filled = row.filled_quantity + f.quantity
            status = "filled" if filled >= row.quantity - 1e-9 else "partially_filled"
            if row.status in ("canceled", "expired"):  # the cancel was seen before the fill that preceded it
                status = row.status
            Q.ORDER_FILLED.run(
                conn,
                {
                    "oid": row.id,
                    "filled": filled,
                    "new_status": status if status == row.status else advance(f.client_order_id, row.status, status),
                    "now": utcnow(),
                },
            )
            pos = self._position(conn, f)
            out.append(
                EventRow(
                    "fill",
                    {
                        "fill_id": f.fill_id,
                        "client_order_id": f.client_order_id,
                        "side": f.side,
                        "quantity": f.quantity,
                        "price": f.price,
                        "reference_price": f.reference_price,
                        "commission": f.commission,
                        "position_after": pos[0],
                        "realized_pnl": pos[1],
                    },
                    symbol=f.symbol,
                    bar_time=f.timestamp,
                )
            )
            out.append(
                EventRow(
                    "order",
                    {
                        "client_order_id": f.client_order_id,
                        "status": status,
                        "previous": row.status,
                        "purpose": row.reason,
                        "message": None,
                        "filled_quantity": filled,
                    },
                    symbol=f.symbol,
                )
            )
        return out

    def _position(self, conn: Connection, f: FillReport) -> tuple[float, float]:
        """Apply a fill to the symbol's position (average price, realised PnL net of commission)."""
        cur = Q.POSITION_OF.first(conn, {"rid": self.run_id, "sym": f.symbol})
        q0, avg0, pnl = (cur.quantity, cur.avg_price, cur.realized_pnl) if cur else (0.0, 0.0, 0.0)
        dq = _signed(f.side, f.quantity)
        q = q0 + dq
        if q0 == 0 or (q0 > 0) == (dq > 0):
            avg = (abs(q0) * avg0 + abs(dq) * f.price) / abs(q)
        else:
            closed = min(abs(dq), abs(q0))
            pnl += closed * (f.price - avg0) * (1.0 if q0 > 0 else -1.0)
            avg = avg0 if abs(q) > 1e-12 and (q > 0) == (q0 > 0) else (f.price if abs(q) > 1e-12 else 0.0)
        pnl -= f.commission
        now = utcnow()
        if cur is None:
            Q.INSERT_POSITION.run(
                conn,
                {
                    "run_id": self.run_id,
                    "symbol": f.symbol,
                    "quantity": q,
                    "avg_price": avg,
                    "realized_pnl": pnl,
                    "updated_at": now,
                },
            )
        else:
            Q.UPDATE_POSITION.run(conn, {"pid": cur.id, "q": q, "avg": avg, "pnl": pnl, "now": now})
        return q, pnl

    def _snapshot(self, conn: Connection, snapshot: bytes, version: int, bar_time: datetime | None) -> None:
        self._state_upsert.run(
            conn,
            {
                "run_id": self.run_id,
                "format_version": version,
                "last_bar_time": bar_time,
                "snapshot": snapshot,
                "updated_at": utcnow(),
            },
        )

    def _events(self, conn: Connection, events: Sequence[EventRow]) -> list[EventRow]:
        return self._event_writer.write(conn, events)
