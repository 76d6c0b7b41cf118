"""Tailing the ``events`` table for the WebSocket: one poller per server, a bounded queue per client.

The poller reads rows after its *frontier* (every id up to it has been delivered) every ``poll_s``
seconds, in a worker thread (never on the event loop), and hands each event, serialised once, to every
matching subscriber without waiting: a subscriber whose queue is full is dropped, so a slow client never
slows the others or the poller.

Ids come from the database's sequence, and on PostgreSQL a transaction can commit after a later one: a
missing id is therefore waited for up to ``gap_grace_s`` seconds before it is taken as rolled back. Events
are delivered in id order, so a client's last id is a complete resume point (``?since=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from tradingmodel.store.schema import Event

log = logging.getLogger(__name__)

CHANNEL_OF = {
    "bar": "bars",
    "prediction": "predictions",
    "signal": "signals",
    "order": "orders",
    "fill": "fills",
    "portfolio": "portfolio",
    "risk": "risk",
    "job": "jobs",
}
CHANNELS = tuple(CHANNEL_OF.values())
PAGE = 1000


@dataclass(frozen=True)
class Message:
    """One event as sent: ``{"type", "id", "data", "symbol", "run_id", "bar_time", "time"}``."""

    id: int
    channel: str
    symbol: str | None
    text: str


def to_message(row: Any) -> Message:
    """Serialise an ``events`` row (once, shared by every client)."""
    data = row.data if not isinstance(row.data, str) else json.loads(row.data)
    body = {
        "type": row.type,
        "id": int(row.id),
        "data": data,
        "symbol": row.symbol,
        "run_id": row.run_id,
        "bar_time": row.bar_time.isoformat() if row.bar_time else None,
        "time": row.created_at.isoformat() if row.created_at else None,
    }
    return Message(int(row.id), CHANNEL_OF.get(row.type, row.type), row.symbol, json.dumps(body, default=str))


def fetch_after(engine: Engine, after: int, upto: int | None = None, limit: int = PAGE) -> list[Message]:
    """Events with ``after < id (<= upto)`` in id order, at most ``limit``."""
    e = Event
    stmt = select(e.id, e.type, e.symbol, e.run_id, e.bar_time, e.data, e.created_at).where(e.id > after)
    if upto is not None:
        stmt = stmt.where(e.id <= upto)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(e.id).limit(limit)).all()
    return [to_message(r) for r in rows]


def max_event_id(engine: Engine) -> int:
    """The newest event id (0 when the log is empty)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one())


@dataclass(eq=False)
class Subscriber:
    """One client's filter and queue; ``None`` in the queue means: dropped, close the connection."""

    channels: frozenset[str]
    symbols: frozenset[str]
    queue: asyncio.Queue[Message | None]
    dropped: bool = False

    def wants(self, m: Message) -> bool:
        """Channel subscribed, and symbol subscribed (no symbols = all; events without a symbol always)."""
        return m.channel in self.channels and (not self.symbols or m.symbol is None or m.symbol in self.symbols)

    def offer(self, m: Message) -> bool:
        """Queue ``m`` without waiting; False (and the subscriber is marked dropped) when the queue is full."""
        if self.dropped:
            return False
        if self.wants(m):
            try:
                self.queue.put_nowait(m)
            except asyncio.QueueFull:
                self.drop()
                return False
        return True

    def drop(self) -> None:
        """Throw away what is queued and tell the sender to close."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass(eq=False)
class EventHub:
    """The server's single reader of the events table."""

    engine: Engine
    poll_s: float = 0.1
    gap_grace_s: float = 2.0
    queue_size: int = 10_000
    frontier: int = 0
    subscribers: set[Subscriber] = field(default_factory=set)
    dropped: int = 0
    _gap_since: dict[int, float] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start tailing from the newest event (clients ask for older ones with ``since``)."""
        self.frontier = await asyncio.to_thread(max_event_id, self.engine)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for s in list(self.subscribers):
            s.drop()
        self.subscribers.clear()

    def subscribe(self, channels: frozenset[str], symbols: frozenset[str]) -> tuple[Subscriber, int]:
        """Register a subscriber; returns it and the frontier: every later event will be queued for it."""
        sub = Subscriber(channels, symbols, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub, self.frontier

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def drop(self, sub: Subscriber) -> None:
        """Drop a subscriber that cannot keep up (its socket took no frame in time); counted in ``dropped``."""
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.dropped += 1
        if not sub.dropped:
            sub.drop()

    def _accept(self, rows: list[Message]) -> None:
        now = time.monotonic()
        for m in rows:
            if m.id <= self.frontier:
                continue
            if m.id != self.frontier + 1:  # a gap: wait for a late commit, up to the grace period
                first = self._gap_since.setdefault(self.frontier + 1, now)
                if now - first < self.gap_grace_s:
                    return
            self._gap_since.pop(self.frontier + 1, None)
            self.frontier = m.id
            for s in list(self.subscribers):
                if not s.offer(m):
                    self.drop(s)

    async def _run(self) -> None:
        while True:
            try:
                rows = await asyncio.to_thread(fetch_after, self.engine, self.frontier)
                self._accept(rows)
                if len(rows) == PAGE and self.frontier == rows[-1].id:
                    continue  # more to read
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is down: keep trying, clients keep their connections
                log.warning("event hub: cannot read events: %s", e)
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.poll_s)
