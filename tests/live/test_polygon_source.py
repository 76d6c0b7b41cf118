"""``paper --source polygon`` against the fake Polygon: every bar of every symbol is traded exactly once.

The fake (REST + WebSocket on loopback) serves two symbols' minute bars of the last NYSE session as time
passes (accelerated), three of them pre-market. A real ``tradingmodel paper --source polygon`` process
(forked from this warmed-up one, so that a start costs no torch import) warms up from REST, trades the
live feed while the fake cuts its connection, is stopped with SIGTERM while it waits for a bar, misses ten
minutes while it is down, and is started again: it resumes, back-fills the gap and trades to the end
through two more forced disconnects. Then every regular-hours bar is an ``applied`` bar event exactly once,
none missing, none doubled, none refused; every prediction row is the one ``model.predict`` makes on the
same bars; and the fills are the backtest's on those bars (the backtest treats the last bar of the data as
the session's close; the live session, which knows the calendar, does not: the last minute is left out).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.live.conftest import CONFIG, SYMBOLS, _child
from tests.live.helpers import FILL_COLUMNS, session_store
from tradingmodel.backtest import run_backtest
from tradingmodel.config import load_config
from tradingmodel.data import simulate
from tradingmodel.data.polygon.fake import FakePolygon
from tradingmodel.data.sessions import session_schedule
from tradingmodel.live.report import session_fills
from tradingmodel.model import predict
from tradingmodel.store import dispose_engines

KEY = "live-test-key"
MINUTES = 120  # regular-hours minutes served
PRE = 3  # pre-market minutes before them (Polygon streams those too; the session must ignore them)
WARM = 30  # published before the first start: the REST warm-up
STOP1 = 60  # the first process is stopped once it has traded up to here
DOWN = 10  # minutes published while no process runs
TICK = 0.03  # seconds per minute of the feed


def _last_session_date() -> pd.Timestamp:
    """The newest NYSE session date before today (New York): its morning has ended, REST serves it."""
    today = pd.Timestamp.now(tz="America/New_York").normalize().tz_localize(None)
    sched = session_schedule(today - pd.Timedelta(days=12), 12)
    return pd.Timestamp(sched["date"][sched["date"] < today].iloc[-1])


def _bars() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(everything the fake serves, the regular-hours part the session must trade)."""
    day = _last_session_date()
    bars = simulate(SYMBOLS, 1, seed=11, signal=1.0, start=str(day.date()))
    bars = bars[bars["timestamp"] < bars["timestamp"].min() + pd.Timedelta(minutes=MINUTES)]
    pre = bars[bars["timestamp"] < bars["timestamp"].min() + pd.Timedelta(minutes=PRE)].copy()
    pre["timestamp"] -= pd.Timedelta(minutes=PRE)
    served = pd.concat([pre, bars]).sort_values(["timestamp", "symbol"]).reset_index(drop=True)
    return served, bars.sort_values(["timestamp", "symbol"]).reset_index(drop=True)


def _start(args: list[str], env: dict[str, str]) -> multiprocessing.Process:
    dispose_engines()  # no connection of this process may be shared with the child
    p = multiprocessing.get_context("fork").Process(target=_child, args=(args, env))
    p.start()
    return p


def _bar_events(db: Path) -> list[tuple[str, str, dict]]:
    """(symbol, bar_time, data) of every ``bar`` event so far (read while the child writes)."""
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            rows = conn.execute("SELECT symbol, bar_time, data FROM events WHERE type = 'bar' ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
    return [(s, t, json.loads(d)) for s, t, d in rows]


def _wait(what: str, cond, proc: multiprocessing.Process, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if not proc.is_alive():
            raise AssertionError(f"the paper process exited ({proc.exitcode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _play(fake: FakePolygon, upto: int, drops: set[int]) -> None:
    """Publish one minute every ``TICK`` seconds up to ``upto``; at each of ``drops``, once the client is
    subscribed, cut its connection (no close frame): the minutes published while it waits to reconnect
    reach it only through the back-fill."""
    while fake.published < upto:
        if fake.published in drops:
            fake.feed.wait_subscribed(1, timeout=30)
            fake.feed.drop_connections()
        fake.feed.publish(1)
        time.sleep(TICK)


def _stop(proc: multiprocessing.Process) -> int:
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(30)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise AssertionError("SIGTERM did not stop the paper process within 30 s")
    return int(proc.exitcode)


def test_polygon_session_trades_every_bar_once_across_disconnects_and_a_restart(
    model_dir: Path, tmp_path: Path
) -> None:
    served, regular = _bars()
    times = np.sort(regular["timestamp"].unique())
    db = tmp_path / "paper.db"
    url = f"sqlite:///{db}"
    cfg_file = tmp_path / "trading.toml"
    cfg_file.write_text(CONFIG)
    args = ["paper", "--source", "polygon", "--symbols", ",".join(SYMBOLS), "--model", str(model_dir)]
    args += ["--config", str(cfg_file), "--db", url, "--session", "poly", "--no-panel", "--no-report"]
    args += ["--broker-dir", str(tmp_path / "broker")]

    def applied_upto(n: int):  # every symbol's bars through regular minute n are applied
        want = len(SYMBOLS) * (n - WARM)
        return lambda: sum(1 for *_, d in _bar_events(db) if d["status"] == "applied") >= want

    with FakePolygon(served, api_key=KEY, live=True) as fake:
        env = {"POLYGON_API_KEY": KEY, "POLYGON_BASE_URL": fake.base_url, "POLYGON_WS_URL": fake.ws_url}
        fake.feed.publish(PRE + WARM)  # on REST before the first start: the warm-up
        proc = _start(args, env)
        fake.feed.wait_subscribed(1, timeout=60)
        _play(fake, PRE + STOP1, drops={PRE + 40})
        _wait(f"minute {STOP1} applied", applied_upto(STOP1), proc)
        time.sleep(0.3)  # the process now waits for a bar that does not come
        assert _stop(proc) == 0  # SIGTERM while idle: stops at once, exit 0
        fake.feed.publish(DOWN)  # the session is down for these: back-filled from its last bar on restart
        proc = _start(args, env)
        deadline = time.monotonic() + 60
        while fake.feed.subscribed_count() < 1:  # the old connection is gone; wait for the new one
            assert time.monotonic() < deadline and proc.is_alive(), "the restarted session never subscribed"
            time.sleep(0.02)
        _play(fake, len(fake.times), drops={PRE + 80, PRE + 100})
        _wait("the last minute applied", applied_upto(MINUTES), proc)
        assert _stop(proc) == 0
        assert fake.feed.stats["dropped"] == 3  # one forced disconnect in the first run, two in the second

    # every regular-hours bar exactly once, nothing refused, values as served
    events = _bar_events(db)
    assert {d["status"] for *_, d in events} == {"applied"}
    got = pd.DataFrame(
        {
            "symbol": [s for s, _, _ in events],
            "timestamp": pd.to_datetime([t for _, t, _ in events], utc=True),
            **{k: [d[k] for *_, d in events] for k in ("open", "high", "low", "close", "volume")},
        }
    )
    want = regular[regular["timestamp"] > times[WARM - 1]][list(got.columns)].reset_index(drop=True)
    assert not got.duplicated(["symbol", "timestamp"]).any()
    pd.testing.assert_frame_equal(
        got.sort_values(["timestamp", "symbol"]).reset_index(drop=True), want, check_dtype=False, check_exact=True
    )
    # predictions: one row per traded bar with a full window, equal to model.predict on the same bars
    store = session_store(url, "poly")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT symbol, timestamp, predicted_price FROM predictions").fetchall()
    mine = pd.DataFrame(rows, columns=["symbol", "timestamp", "predicted_close"])
    mine["timestamp"] = pd.to_datetime(mine["timestamp"], utc=True)
    assert not mine.duplicated(["symbol", "timestamp"]).any()
    ref = predict(model_dir, regular)
    ref = ref[ref["timestamp"] > times[WARM - 1]]
    key = ["symbol", "timestamp"]
    mine = mine.sort_values(key).reset_index(drop=True)
    ref = ref.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine[key], ref[key], check_dtype=False)
    np.testing.assert_allclose(mine["predicted_close"], ref["predicted_close"], rtol=1e-12)
    # fills: the backtest's on the same bars, up to the last minute (see the module docstring)
    by_symbol = regular.sort_values(["symbol", "timestamp"]).reset_index(drop=True)
    bt = run_backtest(by_symbol, predict(model_dir, by_symbol), load_config(cfg_file).trading)
    fills = session_fills(store)
    last = pd.Timestamp(times[-1])
    theirs = bt.fills.assign(side=bt.fills["side"].astype(str))
    theirs = theirs[theirs["timestamp"] < last][FILL_COLUMNS].reset_index(drop=True)
    assert len(theirs) >= 4  # the config trades in this window
    pd.testing.assert_frame_equal(
        fills[fills["timestamp"] < last][FILL_COLUMNS].reset_index(drop=True), theirs, check_dtype=False
    )
    states = [e["data"]["state"] for e in store.events(types=["session"])]
    assert states[0] == "started" and "resumed" in states


def test_a_refused_warm_up_stops_the_session_with_one_clear_line(tmp_path: Path) -> None:
    from tradingmodel.live.sources import PolygonSource, PolygonSourceError

    served, _ = _bars()
    with FakePolygon(served, api_key=KEY) as fake:
        fake.plan_start_ms = int(pd.Timestamp.now(tz="UTC").value // 10**6)  # the plan covers no history
        src = PolygonSource(SYMBOLS, api_key=KEY, ws_url=fake.ws_url, rest_base_url=fake.base_url)
        src.resume_point(None)
        with pytest.raises(PolygonSourceError, match="polygon source") as e:
            src.history()
    assert "AAA" in str(e.value) and "plan" in str(e.value).lower()
