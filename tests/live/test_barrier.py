"""The time-slice barrier: whole minutes, timeouts, and late / duplicate / out-of-order bars never applied."""

from __future__ import annotations

import asyncio

import pandas as pd

from tradingmodel.live.barrier import SliceBarrier, slices
from tradingmodel.live.sources import LiveBar, SliceEnd

T0 = pd.Timestamp("2024-02-05 14:30", tz="UTC")


def bar(sym: str, minute: int) -> LiveBar:
    return LiveBar(sym, T0 + pd.Timedelta(minutes=minute), 10.0, 10.5, 9.5, 10.0, 100.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_minute_released_when_every_symbol_has_its_bar_and_refusals_are_noted() -> None:
    clock = Clock()
    b = SliceBarrier(["A", "B"], timeout=5.0, clock=clock)
    assert b.add(bar("A", 0)) == "accepted"
    assert b.release() == []
    assert b.add(bar("A", 0)) == "duplicate"
    assert b.add(bar("B", 0)) == "accepted"
    [s0] = b.release()
    assert list(s0.bars) == ["A", "B"] and s0.refused[0][1] == "duplicate"
    assert b.add(bar("A", 0)) == "duplicate"  # already stepped and seen
    assert b.add(bar("C", 1)) == "unknown"
    assert b.add(bar("A", 2)) == "accepted"
    assert b.add(bar("A", 1)) == "out_of_order"  # older than A's newest
    clock.now = 3.0
    assert b.add(bar("B", 3)) == "accepted"
    clock.now = 6.0  # minute 2 times out without B
    [s2] = b.release()
    assert s2.timestamp == T0 + pd.Timedelta(minutes=2) and list(s2.bars) == ["A"]
    assert s2.gaps == {"A": 1}  # A skipped minute 1
    assert [st for _, st in s2.refused] == ["duplicate", "unknown", "out_of_order"]
    assert b.add(bar("B", 2)) == "late"  # minute 2 was stepped
    [s3] = b.release(force=True)
    assert s3.gaps == {"B": 2} and s3.refused[0][1] == "late"


def test_slices_follow_slice_end_markers_and_timeouts() -> None:
    async def source():
        yield bar("A", 0)
        yield SliceEnd(T0)  # B has no bar this minute
        yield bar("A", 1)
        yield bar("B", 1)
        yield bar("B", 1)  # a duplicate within the minute
        yield bar("A", 2)
        await asyncio.sleep(0.3)  # B never sends minute 2: the timeout releases it

    async def collect():
        return [s async for s in slices(source(), SliceBarrier(["A", "B"], timeout=0.1))]

    out = asyncio.run(collect())
    assert [len(s.bars) for s in out] == [1, 2, 1]
    assert [s.timestamp.minute for s in out] == [30, 31, 32]
    assert out[2].refused[0][1] == "duplicate"


def test_close_ends_the_slices_while_the_source_sends_nothing() -> None:
    """A live source may send no bar for hours: a stop request must not wait for one."""

    async def silent():
        yield bar("A", 0)
        await asyncio.sleep(3600)
        yield bar("A", 1)

    async def run() -> list:
        b = SliceBarrier(["A", "B"], timeout=3600.0)
        got = []

        async def consume() -> None:
            async for sl in slices(silent(), b):
                got.append(sl)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        b.close()
        await asyncio.wait_for(task, 2.0)
        return got

    assert asyncio.run(run()) == []  # the open minute (A only) is dropped, not released: a restart gets it again
