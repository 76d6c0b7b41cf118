"""Real-time stream against the fake: exactly once across disconnects, auth, eviction, slow consumers."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pandas as pd
import pytest
import websockets

from tradingmodel.data.polygon import (
    Backoff,
    BarStream,
    FetchPolicy,
    StreamAuthError,
    StreamError,
    StreamEvictedError,
    ThreadedBarStream,
)
from tradingmodel.data.polygon.fake import FakePolygon

from .support import API_KEY, make_bars


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def make_stream(fake: FakePolygon, bars: pd.DataFrame, *, since=True, key=API_KEY, **kw) -> BarStream:
    return BarStream(
        sorted(bars["symbol"].unique()),
        api_key=key,
        ws_url=fake.ws_url,
        rest_base_url=fake.base_url,
        since=bars["timestamp"].min() if since else None,
        backoff=kw.pop("backoff", Backoff(initial=0.005, max_attempts=200)),
        **kw,
    )


class Consumer:
    """Consumes ``stream`` in a background task, so a test can drive the fake between bars."""

    def __init__(self, stream: BarStream) -> None:
        self.stream, self.got = stream, []
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for bar in self.stream:
            self.got.append(bar)

    async def until(self, n: int, timeout: float = 10) -> None:
        """Wait until ``n`` bars have arrived (a timeout fails the test)."""

        async def wait() -> None:
            while len(self.got) < n:
                await asyncio.sleep(0.002)

        await asyncio.wait_for(wait(), timeout)

    async def close(self) -> list:
        await self.stream.aclose()
        await self.task
        return self.got


def check_exactly_once(got: list, bars: pd.DataFrame) -> None:
    """Every source bar delivered once, per-symbol in time order, with the source values."""
    keys = [(b.symbol, b.start_ms) for b in got]
    assert len(keys) == len(set(keys)) == len(bars)
    for sym, g in bars.groupby("symbol"):
        mine = [b for b in got if b.symbol == sym]
        starts = [b.start_ms for b in mine]
        assert starts == sorted(starts)
        want = g["timestamp"].astype("int64").to_numpy() // (1000 if g["timestamp"].dt.unit == "us" else 10**6)
        assert starts == list(want)
        np.testing.assert_allclose([b.close for b in mine], g["close"].to_numpy())
        np.testing.assert_allclose([b.volume for b in mine], g["volume"].to_numpy())
        assert all(b.received_at.tzinfo is not None for b in mine)


@pytest.fixture(scope="module")
def day_bars() -> pd.DataFrame:
    return make_bars(["AAPL", "MSFT"], 1)  # 2 x 390 minute bars


async def collect(stream: BarStream, fake: FakePolygon, n: int, *, tick: float = 0.001, timeout: float = 20) -> list:
    got: list = []

    async def play() -> None:
        while fake.feed.subscribed_count() < 1:
            await asyncio.sleep(0.002)
        fake.feed.play(tick)

    player = asyncio.create_task(play())

    async def consume() -> None:
        async for bar in stream:
            got.append(bar)
            if len(got) >= n:
                break

    try:
        await asyncio.wait_for(consume(), timeout)
    finally:
        await stream.aclose()
        player.cancel()
    return got


def test_every_bar_exactly_once_across_three_disconnects(day_bars) -> None:
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        fake.feed.drop_after([60, 170, 300], outage=15)  # bars published during outages must be back-filled
        fake.feed.publish(5)  # published before the client connects: back-filled via ``since``
        stream = make_stream(fake, day_bars)
        got = asyncio.run(collect(stream, fake, len(day_bars)))
        assert fake.feed.stats["dropped"] == 3
    check_exactly_once(got, day_bars)
    assert stream.stats.connects == 4 and stream.stats.reconnects == 3
    # back-fill covered the first 5 timestamps and the three outages; the rest came live
    rest = sorted({b.start_ms for b in got if b.source == "rest"})
    assert len(rest) >= 5 + 3 * 15 and stream.stats.live > len(day_bars) // 2
    assert stream.stats.backfilled + stream.stats.live == len(day_bars)


def test_without_since_the_stream_starts_at_the_first_live_bar(day_bars) -> None:
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        fake.feed.publish(10)  # before we connect, not asked for
        fake.feed.drop_after([50], outage=10)
        stream = make_stream(fake, day_bars, since=False)
        got = asyncio.run(collect(stream, fake, len(day_bars) - 20))
    check_exactly_once(got, day_bars.groupby("symbol").tail(390 - 10))
    assert stream.stats.backfilled >= 2 * 10


def test_auth_failure_is_reported_not_retried(day_bars) -> None:
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        stream = make_stream(fake, day_bars, key="wrong-key")
        with pytest.raises(StreamAuthError, match="auth_failed.*POLYGON_API_KEY"):
            asyncio.run(collect(stream, fake, 1, timeout=5))
        assert fake.feed.stats["connections"] == 1 and fake.feed.stats["auth_failed"] == 1


def test_eviction_by_a_second_connection_is_reported_not_retried(day_bars) -> None:
    async def scenario(fake: FakePolygon) -> None:
        stream = make_stream(fake, day_bars, since=False)
        got = []

        async def consume() -> None:
            async for bar in stream:
                got.append(bar)

        task = asyncio.create_task(consume())
        await asyncio.to_thread(fake.feed.wait_subscribed, 1)
        fake.feed.publish(3)
        async with websockets.connect(fake.ws_url) as other:  # same key, elsewhere
            await other.recv()
            await other.send(json.dumps({"action": "auth", "params": API_KEY}))
            assert json.loads(await other.recv())[0]["status"] == "auth_success"
            with pytest.raises(StreamEvictedError, match="max_connections|Maximum number"):
                await asyncio.wait_for(task, 5)
        assert len(got) == 6

    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        asyncio.run(scenario(fake))
        assert fake.feed.stats["evicted"] == 1 and fake.feed.stats["connections"] == 2


def test_gives_up_after_bounded_reconnects() -> None:
    waits: list[float] = []

    async def record(s: float) -> None:
        waits.append(s)

    stream = BarStream(
        ["AAPL"],
        api_key=API_KEY,
        ws_url="ws://127.0.0.1:9/stocks",
        rest_base_url="http://127.0.0.1:9",
        backoff=Backoff(initial=1.0, factor=2.0, maximum=5.0, jitter=0.0, max_attempts=4, sleep=record),
    )

    async def run() -> None:
        async for _ in stream:
            pass

    with pytest.raises(StreamError, match="gave up after 4 failed reconnects"):
        asyncio.run(run())
    assert waits == [1.0, 2.0, 4.0, 5.0]


def test_slow_consumer_memory_stays_bounded() -> None:
    """A consumer slower than the feed: bounded hand-over queue, server drops us, back-fill fills in."""
    day_bars = make_bars(["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META"], 4)  # 9,360 bars, ~3 MB of frames
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        fake.feed.slow_consumer_frames = 8
        fake.feed.send_buffer = 4096
        stream = make_stream(fake, day_bars, max_queue=2)
        got = []
        with ThreadedBarStream(stream, maxsize=8) as th:
            fake.feed.wait_subscribed(1)
            fake.feed.play(0.0002)
            got.append(th.get(timeout=10))
            # stall while the feed races ahead, until the server gives up on us
            deadline = time.monotonic() + 20
            while not (fake.feed.stats["slow_consumer"] or fake.feed.finished()) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake.feed.stats["slow_consumer"] == 1, "the server should drop a stalled client"
            kicked_at = fake.published
            while len(got) < len(day_bars):
                got.append(th.get(timeout=10))
    print(f"dropped as slow consumer after {kicked_at} of {len(fake.times)} timestamps")
    assert kicked_at < len(fake.times)
    check_exactly_once(got, day_bars)
    assert stream.stats.reconnects >= 1 and stream.stats.backfilled > 0


def test_threaded_wrapper_reraises_stream_errors(day_bars) -> None:
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        th = ThreadedBarStream(make_stream(fake, day_bars, key="nope"))
        with th, pytest.raises(StreamAuthError):
            list(th)


def test_second_aggregates(day_bars) -> None:
    sec = day_bars[day_bars["symbol"] == "AAPL"].head(120).copy()
    sec["timestamp"] = pd.Timestamp("2024-01-02 14:30", tz="UTC") + pd.to_timedelta(np.arange(120), unit="s")
    with FakePolygon(sec, api_key=API_KEY, timeframe="1s", live=True) as fake:
        fake.feed.publish(30)
        fake.feed.drop_after([70], outage=10)
        stream = make_stream(fake, sec, aggregates="second")
        got = asyncio.run(collect(stream, fake, len(sec)))
    check_exactly_once(got, sec)
    assert {b.timeframe for b in got} == {"1s"} and all(b.end_ms - b.start_ms == 1000 for b in got)


def test_rest_lagging_the_feed_is_filled_from_the_first_live_bar(day_bars) -> None:
    """When REST lacks the newest bar at the back-fill, the gap before the first live bar is fetched."""

    async def scenario(fake: FakePolygon, stream: BarStream) -> list:
        c = Consumer(stream)
        await c.until(2 * 4)  # back-filled: timestamps 0..3 (REST lags: 4 is missing)
        fake.feed.publish(3)  # live: 5, 6, 7 -> the gap (4) is fetched before 5 is delivered
        await c.until(2 * 8)
        return await c.close()

    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        fake.rest_lag = 1
        fake.feed.publish(5)
        stream = make_stream(fake, day_bars)
        got = asyncio.run(scenario(fake, stream))
    first8 = day_bars[day_bars["timestamp"] <= sorted(day_bars["timestamp"].unique())[7]]
    check_exactly_once(got, first8)
    assert [b.source for b in got if b.symbol == "AAPL"] == ["rest"] * 5 + ["ws"] * 3
    assert not stream.stats.gaps and stream.stats.backfilled == 10


def test_a_server_that_drops_every_connection_is_not_retried_forever(day_bars) -> None:
    """Handshakes succeed but every connection dies before any data: bounded, then a clear error."""
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        orig = fake.feed._handler

        async def flaky(ws) -> None:
            task = asyncio.ensure_future(orig(ws))
            while not any(c.ws is ws and c.subs for c in fake.feed.conns) and not task.done():
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.01)
            ws.transport.abort()
            await asyncio.gather(task, return_exceptions=True)

        fake.feed._handler = flaky
        fake.feed.stop()
        fake.feed.start()  # serve with the flaky handler
        stream = make_stream(fake, day_bars, since=False, backoff=Backoff(initial=0.001, max_attempts=3))

        async def run() -> None:
            async for _ in stream:
                pass

        with pytest.raises(StreamError, match="gave up after 3 failed reconnects.*connection lost"):
            asyncio.run(asyncio.wait_for(run(), 10))
        assert fake.feed.stats["connections"] == 4


def test_a_failed_gap_fill_loses_no_bar_of_its_frame(day_bars) -> None:
    """A frame [AAPL t6, MSFT t6] whose MSFT gap fill hits a REST error: AAPL t6 must not count as
    delivered, or the reconnect's back-fill (from the last delivered bar on) would skip it."""
    first10 = sorted(day_bars["timestamp"].unique())[:10]
    bars = day_bars[day_bars["timestamp"].isin(first10)]
    bars = bars[~((bars["symbol"] == "MSFT") & (bars["timestamp"] == first10[5]))]  # no MSFT trade at t5

    async def scenario(fake: FakePolygon, stream: BarStream) -> list:
        c = Consumer(stream)
        await c.until(2 * 5)  # back-filled t0..t4
        fake.feed.publish(1)  # t5: AAPL only, no gap
        await c.until(11)
        fake.fail_next(500, 1)  # the MSFT gap check (t4 -> t6) asks REST, which fails once
        fake.feed.publish(len(first10) - 6)
        await c.until(len(bars))
        return await c.close()

    with FakePolygon(bars, api_key=API_KEY, live=True) as fake:
        fake.feed.publish(5)
        stream = make_stream(fake, bars, rest_policy=FetchPolicy(max_retries=0))
        got = asyncio.run(scenario(fake, stream))
    check_exactly_once(got, bars)
    assert stream.stats.reconnects == 1 and any("back-fill failed" in s for s in stream.stats.statuses)


def test_backfill_stops_before_the_window_still_being_built(day_bars, monkeypatch) -> None:
    """REST may already serve the current, unfinished aggregate: back-fill must not deliver it as final."""
    import asyncio

    import tradingmodel.data.polygon.stream as stream_mod

    sym = sorted(day_bars["symbol"].unique())[0]
    bars = day_bars[day_bars["symbol"] == sym]
    now = bars["timestamp"].iloc[10] + pd.Timedelta(seconds=30)  # half-way through the 11th bar
    monkeypatch.setattr(stream_mod.time, "time", lambda: now.value / 1e9)
    with FakePolygon(bars, api_key=API_KEY) as fake:
        got = asyncio.run(make_stream(fake, bars)._backfill())
    starts = [pd.Timestamp(b.start_ms, unit="ms", tz="UTC") for b in got]
    assert starts == list(bars["timestamp"].iloc[:10])  # the 11th, unfinished, bar is left to the live feed


def test_malformed_frames_reconnect_and_lose_nothing(day_bars) -> None:
    """A frame that is not JSON, or an aggregate with a null field: reconnect, back-fill, no bar lost."""
    sym = sorted(day_bars["symbol"].unique())[0]
    n_sym = day_bars["symbol"].nunique()
    with FakePolygon(day_bars, api_key=API_KEY, live=True) as fake:
        stream = make_stream(fake, day_bars)
        got: list = []
        with ThreadedBarStream(stream, maxsize=64) as th:
            fake.feed.wait_subscribed(1)
            fake.feed.publish(20)
            while len(got) < 20 * n_sym:
                got.append(th.get(timeout=10))
            fake.feed.inject(json.dumps([{"ev": "AM", "sym": sym, "s": None, "e": None}]))
            fake.feed.publish(20)
            while len(got) < 40 * n_sym:
                got.append(th.get(timeout=10))
            fake.feed.inject("<html>not json</html>")
            fake.feed.play(0.001)
            while len(got) < len(day_bars):
                got.append(th.get(timeout=10))
    check_exactly_once(got, day_bars)
    assert stream.stats.reconnects >= 2
