"""A writer and readers at the same time (SQLite WAL + busy timeout; PostgreSQL MVCC), concurrent importers."""

from __future__ import annotations

import threading
import time

import pandas as pd
from sqlalchemy import Engine, text

from tradingmodel.data import simulate
from tradingmodel.store import ingest_bars, load_bars

from .helpers import count_bars


def test_reader_sees_only_whole_batches_while_a_writer_imports(engine: Engine) -> None:
    bars = simulate(["AAA", "BBB", "CCC"], 2)  # 2,340 bars
    batch = 180
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                with engine.connect() as conn:
                    seen.append(int(conn.execute(text("SELECT count(*) FROM market_data")).scalar_one()))
                load_bars(engine, ["AAA", "BBB"], "2024-01-02", "2024-01-03")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        stats = ingest_bars(engine, bars, batch_size=batch)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert stats.inserted == len(bars) == count_bars(engine)
    assert len(seen) > 2
    assert all(n % batch == 0 or n == len(bars) for n in seen), "a reader saw part of a batch"


def test_two_writers_at_once_both_succeed(engine: Engine) -> None:
    parts = [simulate([s], 2, seed=i) for i, s in enumerate(("AAA", "BBB"))]
    results: list[object] = []

    def write(b: pd.DataFrame) -> None:
        try:
            results.append(ingest_bars(engine, b, batch_size=100))
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=write, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert count_bars(engine) == sum(len(p) for p in parts)


def test_racing_importers_of_the_same_bars(engine: Engine) -> None:
    """Importer B checks for stored bars before A commits the same bars: B must still end up correct
    (on PostgreSQL its COPY hits A's rows and it retries on the merge path; SQLite serialises writers)."""
    bars = simulate(["AAA"], 1)
    with engine.connect() as conn_a:
        tx = conn_a.begin()
        ingest_bars(conn_a, bars)  # stored but not committed
        result: list[object] = []
        t = threading.Thread(target=lambda: result.append(_try(lambda: ingest_bars(engine, bars))))
        t.start()
        time.sleep(0.5)  # B is now waiting for A (row lock on PostgreSQL, write lock on SQLite)
        assert t.is_alive()
        tx.commit()
    t.join(timeout=60)
    stats = result[0]
    assert not isinstance(stats, BaseException), stats
    assert (stats.inserted, stats.updated, stats.unchanged) == (0, 0, len(bars))
    assert count_bars(engine) == len(bars)


def _try(fn):  # noqa: ANN001, ANN202 - tiny test helper
    try:
        return fn()
    except BaseException as e:
        return e
