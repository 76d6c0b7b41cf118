"""Helpers for the Alpaca tests: executor config against a fake, order builders, async running, polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from tradingmodel.execution.alpaca.executor import AlpacaExecutor
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.execution.alpaca.settings import AlpacaConfig
from tradingmodel.execution.orders import FillReport, OrderRequest, client_order_id

SYMBOLS = ("AAA", "BBB")
T = TypeVar("T")
BAR = datetime(2026, 3, 2, 15, 31, tzinfo=UTC)


def config(fake: FakeAlpaca, **kw: Any) -> AlpacaConfig:
    """Fast deadlines for loopback: the same code paths, seconds instead of minutes."""
    defaults: dict[str, Any] = {
        "key_id": fake.key_id,
        "secret_key": fake.secret_key,
        "base_url": fake.base_url,
        "stream_url": fake.stream_url,
        "call_timeout_s": 2.0,
        "stream_wait_s": 10.0,
        "heartbeat_s": 1.0,
        "backoff": (0.05, 0.2),
        "wait_429_s": 0.05,
    }
    defaults.update(kw)
    return AlpacaConfig(**defaults)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def entry(symbol: str = "AAA", qty: float = 10, side: str = "buy", seq: int = 0, **kw: Any) -> OrderRequest:
    cid = client_order_id("test", BAR, symbol, "entry", seq)
    return OrderRequest(cid, symbol, side, qty, "market", "entry", BAR, **kw)  # type: ignore[arg-type]


def exit_order(symbol: str, qty: float, side: str, parent: str | None = None, seq: int = 0) -> OrderRequest:
    cid = client_order_id("test", BAR, symbol, "time_exit", seq)
    return OrderRequest(
        cid,
        symbol,
        side,
        qty,
        "market",
        "time_exit",
        BAR,  # type: ignore[arg-type]
        parent_client_order_id=parent,
    )


async def until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def drain(ex: AlpacaExecutor) -> list[FillReport]:
    """Every fill queued so far (without waiting)."""
    out = []
    while not ex.queue.empty():
        out.append(ex.queue.get_nowait())
    return out


@contextlib.asynccontextmanager
async def executor(fake: FakeAlpaca, **kw: Any) -> AsyncIterator[AlpacaExecutor]:
    """A started executor on ``fake``, closed afterwards."""
    ex = AlpacaExecutor(config(fake, **kw))
    await ex.start()
    try:
        yield ex
    finally:
        await ex.close()
