"""Polygon data path against the local fake server (127.0.0.1), each figure beside a reference in the same run.

* fetch: ``fetch_history`` (official client + rate/retry guard + SQLite store, resumable checkpoints)
  against the official ``massive`` client's bare ``list_aggs`` over the same pages (no store);
* stream: ``BarStream`` (dedupe, ordering, back-fill bookkeeping) against the official
  ``massive.WebSocketClient`` receiving the same feed published as fast as the fake can.

Numbers include the fake server's own cost (same process, same cores), so they are a lower bound on
the client side and say nothing about Polygon's network latency. Usage::

    python benchmarks/polygon.py [--symbols 4] [--days 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date

from massive import RESTClient, WebSocketClient

from tradingmodel.data import simulate
from tradingmodel.data.polygon import Backoff, BarStream, FetchPolicy, fetch_history
from tradingmodel.data.polygon.fake import FakePolygon
from tradingmodel.store import get_engine

KEY = "bench-key"


def bench_fetch(bars, symbols: list[str]) -> None:
    start, end = date(2024, 1, 1), date(2024, 12, 31)
    with FakePolygon(bars, api_key=KEY) as fake:
        fake.page_size = 5_000
        client = RESTClient(api_key=KEY, base=fake.base_url)
        t = time.perf_counter()
        n_ref = sum(
            1 for s in symbols for _ in client.list_aggs(s, 1, "minute", "2024-01-01", "2024-12-31", limit=50_000)
        )
        ref = n_ref / (time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as d:
            engine = get_engine(f"sqlite:///{d}/bench.db")
            t = time.perf_counter()
            reps = fetch_history(engine, symbols, start, end, api_key=KEY, base_url=fake.base_url, policy=FetchPolicy())
            ours = sum(r.bars for r in reps) / (time.perf_counter() - t)
            engine.dispose()
    assert n_ref == len(bars) == sum(r.bars for r in reps)
    print(
        f"fetch into SQLite ({len(bars):,} bars, 5,000-bar pages): {ours:,.0f} bars/s = {ours / ref:.2f}x "
        f"official list_aggs without storing ({ref:,.0f} bars/s)"
    )


async def _official(fake: FakePolygon, symbols: list[str], n: int) -> float:
    ws = WebSocketClient(
        api_key=KEY,
        feed=f"127.0.0.1:{fake.feed.port}",
        secure=False,
        subscriptions=[f"AM.{s}" for s in symbols],
        max_reconnects=0,
    )
    got = 0
    done = asyncio.Event()

    async def handle(msgs: list) -> None:
        nonlocal got
        got += len(msgs)
        if got >= n:
            done.set()

    task = asyncio.create_task(ws.connect(handle))
    while fake.feed.subscribed_count() < 1 or len(fake.feed.conns[0].subs) < len(symbols):
        await asyncio.sleep(0.001)
    t = time.perf_counter()
    fake.feed.play(0.0)
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - t
    await ws.close()
    task.cancel()
    return n / elapsed


async def _ours(fake: FakePolygon, symbols: list[str], n: int) -> float:
    stream = BarStream(
        symbols, api_key=KEY, ws_url=fake.ws_url, rest_base_url=fake.base_url, backoff=Backoff(initial=0.01)
    )
    got = 0

    async def play() -> None:
        while fake.feed.subscribed_count() < 1:
            await asyncio.sleep(0.001)
        fake.feed.play(0.0)

    asyncio.create_task(play())
    t = None
    async for _ in stream:
        t = t or time.perf_counter()
        got += 1
        if got >= n:
            break
    elapsed = time.perf_counter() - (t or 0)
    await stream.aclose()
    return (n - 1) / elapsed


def bench_stream(bars, symbols: list[str]) -> None:
    rates = {}
    for name, fn in (("official", _official), ("ours", _ours)):
        with FakePolygon(bars, api_key=KEY, live=True) as fake:
            fake.feed.slow_consumer_frames = 1_000_000  # measure the client, not the drop policy
            rates[name] = asyncio.run(fn(fake, symbols, len(bars)))
    print(
        f"stream AM bars ({len(bars):,}, {len(symbols)} symbols per frame): {rates['ours']:,.0f} bars/s = "
        f"{rates['ours'] / rates['official']:.2f}x official WebSocketClient ({rates['official']:,.0f} bars/s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=4)
    ap.add_argument("--days", type=int, default=20)
    args = ap.parse_args()
    symbols = [f"SYM{i}" for i in range(args.symbols)]
    bars = simulate(symbols, args.days, start="2024-01-02")
    bench_fetch(bars, symbols)
    bench_stream(simulate(symbols, max(1, args.days // 4), start="2024-01-02"), symbols)


if __name__ == "__main__":
    main()
