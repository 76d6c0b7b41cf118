"""Alpaca order round trip against the loopback fake (127.0.0.1), beside the bare alpaca-py client.

* ``AlpacaExecutor.submit`` (decision → acknowledged: pre-trade checks, our deadline, the POST, bookkeeping)
  against ``TradingClient.submit_order`` alone on the same fake (``raw_data=True`` like the executor's, so
  the ratio is the adapter's own cost, not pydantic's);
* decision → acknowledged → fill applied (the fake is told a price right after the ack, the fill comes back
  on the trade stream, deduplicated and queued) against the same trip done with the bare ``TradingClient`` +
  ``TradingStream`` handler (no dedupe, no book, no deadlines);
* the live engine's own path for the same trip: the decision committed as an order ``new`` (SQLite session
  store), submitted, the ack recorded, and the fill applied as the engine applies it (deduplicated against
  the store, handed to the strategy's ``apply_fills`` phase, committed with its position and the strategy
  snapshot), with the engine's :class:`~tradingmodel.live.orders.OrderBook`.

The fake runs in the same process on the same cores, so these are lower bounds on the client side and say
nothing about Alpaca's network or venue latency. Usage::

    python benchmarks/alpaca.py [--orders 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's folder is sys.path[0] and "alpaca" would import this file, not alpaca-py.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402
from alpaca.trading.client import TradingClient  # noqa: E402
from alpaca.trading.stream import TradingStream  # noqa: E402

from tradingmodel.config import TradingConfig  # noqa: E402
from tradingmodel.execution.alpaca.executor import AlpacaExecutor  # noqa: E402
from tradingmodel.execution.alpaca.fake import FakeAlpaca  # noqa: E402
from tradingmodel.execution.alpaca.settings import AlpacaConfig  # noqa: E402
from tradingmodel.execution.alpaca.wire import order_request  # noqa: E402
from tradingmodel.execution.orders import OrderRequest, client_order_id  # noqa: E402
from tradingmodel.live.crash import CrashPoints  # noqa: E402
from tradingmodel.live.events import Publisher  # noqa: E402
from tradingmodel.live.orders import OrderBook  # noqa: E402
from tradingmodel.live.strategy import SNAPSHOT_FORMAT, LiveStrategy  # noqa: E402
from tradingmodel.store import get_engine  # noqa: E402
from tradingmodel.store.sessions import SessionStore, SliceWrite, open_session  # noqa: E402

BAR = datetime(2026, 3, 2, 15, 31, tzinfo=UTC)


def _order(tag: str, i: int) -> OrderRequest:
    return OrderRequest(client_order_id(tag, BAR, "AAA", "entry", i), "AAA", "buy", 1, "market", "entry", BAR)


def _pct(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


class Bare:
    """The bare client: ``TradingClient.submit_order`` and a ``TradingStream`` handler that flags fills."""

    def __init__(self, fake: FakeAlpaca) -> None:
        self.fake = fake
        self.client = TradingClient(fake.key_id, fake.secret_key, paper=True, raw_data=True, url_override=fake.base_url)
        self.stream = TradingStream(fake.key_id, fake.secret_key, raw_data=True, url_override=fake.stream_url)
        self.filled: dict[str, threading.Event] = {}
        self.stream.subscribe_trade_updates(self._on)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()

    async def _on(self, msg: dict) -> None:
        d = msg["data"]
        ev = self.filled.get(d["order"]["client_order_id"])
        if d["event"] == "fill" and ev is not None:
            ev.set()

    def trip(self, order: OrderRequest) -> tuple[float, float]:
        ev = self.filled[order.client_order_id] = threading.Event()
        t0 = time.perf_counter()
        self.client.submit_order(order_request(order, order.quantity, bracket=False))
        ack = time.perf_counter() - t0
        self.fake.price({"AAA": 100.0})
        ev.wait(10)
        return ack, time.perf_counter() - t0

    def close(self) -> None:
        self.stream.stop()
        self.fake.stream.drop()
        self.thread.join(10)


async def _ours_trip(ex: AlpacaExecutor, order: OrderRequest) -> tuple[float, float]:
    t0 = time.perf_counter()
    await ex.submit(order)
    ack = time.perf_counter() - t0
    ex.fake.price({"AAA": 100.0})  # type: ignore[attr-defined]
    while (await asyncio.wait_for(ex.queue.get(), 10)).client_order_id != order.client_order_id:
        pass  # the bare client's fills reach this stream too
    return ack, time.perf_counter() - t0


class EnginePath:
    """The engine's persistence and strategy around one order: decision commit, submit, ack, fill applied."""

    def __init__(self, ex: AlpacaExecutor, folder: Path) -> None:
        db = get_engine(f"sqlite:///{folder}/bench.db")
        info = open_session(db, "bench", symbols=["AAA"], config_toml="")
        self.ex, self.store = ex, SessionStore(db, info.run_id)
        self.book = OrderBook(self.store, ex, CrashPoints(""), Publisher())
        self.strategy = LiveStrategy.new(["AAA"], TradingConfig(deposit=1e9))

    async def trip(self, order: OrderRequest) -> float:
        t0 = time.perf_counter()
        snap = self.strategy.snapshot()
        self.store.commit_slice(SliceWrite(order.bar_time, snap, SNAPSHOT_FORMAT, orders=[order]))
        self.book.committed([order], [])
        self.store.set_status([await self.ex.submit(order)])
        self.ex.fake.price({"AAA": 100.0})  # type: ignore[attr-defined]
        while True:
            f = await asyncio.wait_for(self.ex.queue.get(), 10)
            fills = self.book.unrecorded([f])
            if fills and f.client_order_id == order.client_order_id:
                break
        self.strategy.apply(self.book.reports(fills, [], self.strategy, self.strategy.stamp))
        self.store.record_fills(fills, self.strategy.snapshot(), SNAPSHOT_FORMAT, order.bar_time)
        self.book.open.pop(order.client_order_id, None)
        return time.perf_counter() - t0


async def measure(fake: FakeAlpaca, n: int) -> dict[str, list[float]]:
    """Both sides order by order, alternating which goes first, so machine load hits them alike."""
    fake.stream.one_connection = False  # two subscribers on one key (the real Alpaca would refuse the second)
    bare = Bare(fake)
    ex = AlpacaExecutor(AlpacaConfig(fake.key_id, fake.secret_key, fake.base_url, fake.stream_url))
    ex.fake = fake  # type: ignore[attr-defined]
    await ex.start()
    while not fake.stream.queues or len(fake.stream.queues) < 2:
        await asyncio.sleep(0.01)
    out: dict[str, list[float]] = {"bare_ack": [], "bare_trip": [], "ack": [], "trip": [], "engine": []}
    folder = tempfile.TemporaryDirectory()
    engine = EnginePath(ex, Path(folder.name))
    try:
        for i in range(n + 10):
            runs = [("bare", lambda i=i: bare.trip(_order("bare", i))), ("", None), ("engine", None)]
            runs = runs[i % 3 :] + runs[: i % 3]  # each goes first in turn, so machine load hits all alike
            for side, fn in runs:
                if side == "engine":
                    trip = await engine.trip(_order("engine", i))
                    if i >= 10:
                        out["engine"].append(trip)
                    continue
                ack, trip = fn() if fn is not None else await _ours_trip(ex, _order("ours", i))
                if i >= 10:  # the first ten warm every path
                    out[f"{side}_ack" if side else "ack"].append(ack)
                    out[f"{side}_trip" if side else "trip"].append(trip)
    finally:
        await ex.close()
        bare.close()
        folder.cleanup()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=200)
    n = p.parse_args().orders
    with FakeAlpaca(symbols=("AAA",), cash=1e9) as fake:
        fake.price({"AAA": 100.0})
        m = asyncio.run(measure(fake, n))
    (b50, b99), (bt50, bt99) = _pct(m["bare_ack"]), _pct(m["bare_trip"])
    (o50, o99), (ot50, ot99) = _pct(m["ack"]), _pct(m["trip"])
    print(
        f"submit decision->ack p50 ({n} orders): {o50:.2f} ms = {o50 / b50:.2f}x bare submit_order p50 ({b50:.2f} ms)"
    )
    print(
        f"submit decision->ack p99 ({n} orders): {o99:.2f} ms = {o99 / b99:.2f}x bare submit_order p99 ({b99:.2f} ms)"
    )
    print(
        f"round trip decision->ack->fill applied p50 ({n} orders): {ot50:.2f} ms = {ot50 / b50:.2f}x bare "
        f"submit_order p50 ({b50:.2f} ms); {ot50 / bt50:.2f}x bare client+stream trip p50 ({bt50:.2f} ms)"
    )
    print(
        f"round trip decision->ack->fill applied p99 ({n} orders): {ot99:.2f} ms = {ot99 / b99:.2f}x bare "
        f"submit_order p99 ({b99:.2f} ms); {ot99 / bt99:.2f}x bare client+stream trip p99 ({bt99:.2f} ms)"
    )
    e50, e99 = _pct(m["engine"])
    print(
        f"engine round trip decision committed->ack->fill applied+committed p50 ({n} orders, SQLite): {e50:.2f} ms"
        f" = {e50 / bt50:.2f}x bare client+stream trip p50 ({bt50:.2f} ms)"
    )
    print(
        f"engine round trip decision committed->ack->fill applied+committed p99 ({n} orders, SQLite): {e99:.2f} ms"
        f" = {e99 / bt99:.2f}x bare client+stream trip p99 ({bt99:.2f} ms)"
    )


if __name__ == "__main__":
    main()
