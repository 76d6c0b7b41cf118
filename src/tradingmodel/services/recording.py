"""Record a real-time bar stream into the store (``tradingmodel stream``).

Bars are stored as they arrive, in batches: a flush at most every :data:`FLUSH_S` seconds or every
:data:`FLUSH_BARS` bars, and always at the end (also on Ctrl-C or an error), so at most one second of bars
is in memory. Storing is idempotent (``ingest_bars``), so a bar received twice is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

FLUSH_S = 1.0
FLUSH_BARS = 500


class BarFeed(Protocol):
    """What :func:`record_stream` reads: an async iterator of bars (``as_row()``), its timeframe, ``aclose``."""

    timeframe: str

    def __aiter__(self) -> AsyncIterator[Any]: ...

    async def aclose(self) -> None: ...


@dataclass
class Recording:
    """How many bars were received (every one stored) by :func:`record_stream`."""

    bars: int


async def record_stream(
    feed: BarFeed,
    engine: Engine,
    duration: float | None = None,
    on_bar: Callable[[Any], None] | None = None,
    counter: Recording | None = None,
) -> Recording:
    """Store the bars of ``feed`` until it ends or ``duration`` seconds pass; ``on_bar`` sees each bar as
    it arrives (the CLI prints it). ``counter`` (optional) is updated as bars arrive, so a caller that is
    interrupted still knows how many were recorded."""
    import pandas as pd

    from tradingmodel.store import ingest_bars

    rec = counter or Recording(0)
    pending: list[dict[str, Any]] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        if pending:
            df = (
                pd.DataFrame(pending)
                .drop(columns="received_at")
                .sort_values(["symbol", "timestamp"], kind="stable", ignore_index=True)
            )
            ingest_bars(engine, df, timeframe=feed.timeframe)
            pending.clear()
        last_flush = time.monotonic()

    async def consume() -> None:
        async for b in feed:
            rec.bars += 1
            pending.append(b.as_row())
            if on_bar is not None:
                on_bar(b)
            if len(pending) >= FLUSH_BARS or time.monotonic() - last_flush >= FLUSH_S:
                flush()

    try:
        if duration is None:
            await consume()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consume(), duration)
    finally:
        await feed.aclose()
        flush()
    return rec
