"""In-process publication of the session's events (after they are committed to the ``events`` table).

Subscribers get a bounded queue each; a full queue drops its oldest event and counts the drop, so a slow
subscriber never blocks trading (it can catch up from the table by event id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tradingmodel.store.sessions import EventRow


class Subscription:
    """One subscriber's queue and how many events it missed by being slow."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[EventRow] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, event: EventRow) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class Publisher:
    """Fan-out of committed events to in-process subscribers (the panel, the API, tests)."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.published = 0

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(maxsize)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.remove(sub)

    def publish(self, events: Sequence[EventRow]) -> None:
        """Offer ``events`` to every subscriber without waiting."""
        for e in events:
            for sub in self.subscriptions:
                sub.offer(e)
        self.published += len(events)
