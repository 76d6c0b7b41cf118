"""The real engine against the loopback Alpaca fake: ``tradingmodel paper --broker alpaca --source replay --speed
0`` in a real (forked) process. Every decided order is placed exactly once, every broker execution is applied
exactly once, and the store's and the strategy's positions equal the broker's: under every fault switch of the
fake, across SIGKILLs at crash points and between the broker's acceptance and the acknowledgement, and when the
broker refuses the entries (the strategy stays flat). Plus the live-money guard."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.live.conftest import _child, run_forked
from tests.live.helpers import session_store
from tradingmodel.config import load_config
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.live.strategy import LiveStrategy
from tradingmodel.store import dispose_engines, get_engine
from tradingmodel.store.schema import SessionState
from tradingmodel.store.sessions import SessionStore

SYMBOLS = ["AAA", "BBB"]
DECIDED = ("entry", "time_exit", "halt_exit", "session_close", "end")


def _env(fake: FakeAlpaca, **extra: str) -> dict[str, str]:
    """The APCA_* settings of the fake, with loopback deadlines (the same code paths, seconds not minutes)."""
    return {
        "APCA_API_KEY_ID": fake.key_id,
        "APCA_API_SECRET_KEY": fake.secret_key,
        "APCA_API_BASE_URL": fake.base_url,
        "APCA_API_STREAM_URL": fake.stream_url,
        "APCA_CALL_TIMEOUT_S": "2",
        "APCA_STREAM_WAIT_S": "10",
        "APCA_HEARTBEAT_S": "0.5",
        "APCA_BACKOFF": "0.05,0.2",
        "APCA_WAIT_429_S": "0.05",
        "APCA_SLICE_WAIT_S": "3",
        **extra,
    }


def _args(files: tuple[Path, Path], model: Path, url: str, name: str) -> list[str]:
    bars, cfg = files
    return [
        "paper",
        "--broker",
        "alpaca",
        "--source",
        "replay",
        "--speed",
        "0",
        "--data",
        str(bars),
        "--model",
        str(model),
        "--config",
        str(cfg),
        "--db",
        url,
        "--session",
        name,
        "--no-panel",
        "--no-report",
    ]


def _on_slices(fake: FakeAlpaca, hook: Callable[[FakeAlpaca, int], Any]) -> None:
    """Call ``hook(fake, n)`` as the engine tells the fake the n-th slice's prices (before they fill)."""
    told = fake.price
    count = [0]

    def price(prices: dict[str, float]) -> int:
        count[0] += 1
        hook(fake, count[0])
        return told(prices)

    fake.price = price  # type: ignore[method-assign]


def _strategy(url: str, store: SessionStore) -> LiveStrategy:
    with get_engine(url).connect() as conn:
        blob = conn.execute(select(SessionState.snapshot).where(SessionState.run_id == store.run_id)).scalar_one()
    return LiveStrategy.restore(bytes(blob), SYMBOLS, load_config(None).trading)


def _check_exactly_once(fake: FakeAlpaca, url: str, name: str, purposes: tuple[str, ...] = DECIDED) -> SessionStore:
    """Each decided order placed once (none twice), each execution applied once, positions = the broker's."""
    store = session_store(url, name)
    orders = store.orders()
    decided = [o for o in orders if o["reason"] in purposes]
    assert len(decided) >= 8, "the session should trade"
    for o in decided:
        n = fake.order_count(o["client_order_id"])
        never_sent = o["status"] == "rejected" or (o["message"] or "").startswith("not sent")
        assert n == (0 if never_sent else 1), f"{o['client_order_id']} ({o['reason']}, {o['status']}) placed {n}x"
    sent = sum(1 for o in decided if fake.order_count(o["client_order_id"]))
    oco = sum(1 for o in fake.book.orders.values() if o.cid.endswith("-oco"))
    assert fake.order_count() == sent + oco, "the broker holds no order the session did not decide"
    executions = sorted(a["id"].split("::")[1] for a in fake.book.activities)
    applied = [f["broker_fill_id"] for f in store.fills()]
    assert sorted(applied) == executions, "every broker execution applied exactly once"
    broker = {s: q for s, q in fake.positions().items() if q}
    assert {s: p["quantity"] for s, p in store.positions().items() if p["quantity"]} == broker
    strat = _strategy(url, store)
    held = {s: strat.position(i)[0] * strat.position(i)[1] for i, s in enumerate(SYMBOLS) if strat.position(i)[0]}
    assert held == broker, "the strategy's book is the broker's"
    return store


#: faults of delivery (the broker's book is untouched): the session must decide exactly as without them
DELIVERY: dict[str, Callable[[FakeAlpaca, int], Any]] = {
    "accept_then_504": lambda f, n: n in (15, 45, 75) and f.accept_then_504(),
    "replayed_fills": lambda f, n: n == 25 and (setattr(f.stream, "replay_fills_on_reconnect", True), f.stream.drop()),
    "drop_mid_fill": lambda f, n: n == 35 and setattr(f.stream, "drop_on_next_fill", True),
    "silent": lambda f, n: n in (50, 56) and setattr(f.stream, "silent", n == 50),
    "handshake_429": lambda f, n: n == 65 and (f.stream.reject_handshakes(2), f.stream.drop()),
    "rest_429": lambda f, n: n % 20 == 0 and f.fail_next(429, 1),
}


def _decisions(store: SessionStore) -> list[tuple]:
    """The decided orders without the session name in their ids: bar, symbol, purpose, side, quantity."""
    rows = [o for o in store.orders() if o["reason"] in DECIDED]
    return sorted((str(o["bar_time"]), o["symbol"], o["reason"], o["side"], o["quantity"]) for o in rows)


def test_replay_session_through_the_engine_places_each_order_once_under_every_delivery_fault(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path
) -> None:
    """One session meets every delivery fault at its own slices (well apart), so one engine start covers them;
    it decides exactly what a session on a fault-free broker decides: each slice waits for the previous
    slice's orders, whatever the stream does."""
    _on_slices(fake, lambda f, n: [hook(f, n) for hook in DELIVERY.values()])
    url = f"sqlite:///{tmp_path}/s.db"
    assert run_forked(*_args(files, model_dir, url, "faults"), env=_env(fake)) == 0
    store = _check_exactly_once(fake, url, "faults")
    st = fake.stream.stats
    assert st["connections"] >= 4 and st["replayed"] > 0 and st["refused_429"] >= 2 and st["lost_events"] > 0
    assert any(s == 504 for m, p, s in fake.requests if m == "POST"), "an accepted order was answered 504"
    assert any(s == 429 for *_, s in fake.requests)
    with FakeAlpaca(symbols=tuple(SYMBOLS)) as clean:
        clean.price({s: 100.0 for s in SYMBOLS})
        assert run_forked(*_args(files, model_dir, url, "clean"), env=_env(clean)) == 0
        assert _decisions(_check_exactly_once(clean, url, "clean")) == _decisions(store)


def _close_on_a_partial(f: FakeAlpaca, n: int) -> None:
    """From slice 110 a market order fills one share per slice; the close comes while one is partly filled."""
    if n == 110:
        f.book.partial_chunks = 1000
    partly = any(o.status == "partially_filled" and o.type == "market" for o in f.book.orders.values())
    if f.book.clock_open and (n >= 120 and partly or n == 149):
        f.book.close_market()


def test_partial_fills_and_the_close_canceling_a_partial_entry(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path
) -> None:
    """Partial fills from slice 85 (three executions per order), the close canceling a partly filled entry:
    the strategy books what filled, the broker protects it, and nothing is placed or applied twice."""
    _on_slices(fake, lambda f, n: (n == 85 and setattr(f.book, "partial_chunks", 3), _close_on_a_partial(f, n)))
    url = f"sqlite:///{tmp_path}/p.db"
    assert run_forked(*_args(files, model_dir, url, "partial"), env=_env(fake)) == 0
    store = _check_exactly_once(fake, url, "partial")
    assert any(a["type"] == "partial_fill" for a in fake.book.activities)
    by_order: dict[str, int] = {}
    for f in store.fills():
        by_order[f["client_order_id"]] = by_order.get(f["client_order_id"], 0) + 1
    assert max(by_order.values()) >= 2, "an order's executions are applied one by one"
    assert any(o.status == "canceled" and o.filled_qty > 0 for o in fake.book.orders.values()), "cancel at close"


def _spawn(args: list[str], env: dict[str, str]) -> multiprocessing.Process:
    dispose_engines()
    p = multiprocessing.get_context("fork").Process(target=_child, args=(args, env))
    p.start()
    return p


@pytest.mark.slow
def test_sigkill_at_crash_points_and_before_the_ack_then_restart_places_and_applies_nothing_twice(
    fake: FakeAlpaca,
    files: tuple[Path, Path],
    model_dir: Path,
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    args, env = _args(files, model_dir, url, "crashy"), _env(fake)
    # between the broker's acceptance and the acknowledgement: the first POST is answered 3 s late
    fake.slow_answer_next(3.0)
    p = _spawn(args, env)
    end = time.monotonic() + 60
    while fake.order_count() == 0 and time.monotonic() < end and p.is_alive():
        time.sleep(0.01)
    assert fake.order_count() == 1 and p.is_alive(), "the first POST should be held by the fake"
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    new = [o for o in session_store(url, "crashy").orders() if o["status"] == "new"]
    assert len(new) == 1, "killed before the ack: the store still has the order as new"
    kills = 1
    plans = [
        "after_submit:2,slice_before_commit:40",
        "after_decision_commit:10",
        "fill_before_position:2,slice_before_commit:30",
        "slice_before_commit:15",
        "after_executor_bars:20",
        "after_cancel:1,slice_before_commit:25",
    ]
    tried = []
    for spec in plans:
        rc = run_forked(*args, env={**env, "TRADINGMODEL_CRASH_AT": spec})
        tried.append((spec, rc))
        assert rc in (0, -signal.SIGKILL), tried
        kills += rc == -signal.SIGKILL
    assert kills >= 6, tried
    assert run_forked(*args, env=env) == 0
    _check_exactly_once(fake, url, "crashy")


def test_refused_entries_leave_the_strategy_flat(
    fake: FakeAlpaca,
    files: tuple[Path, Path],
    model_dir: Path,
    tmp_path: Path,
) -> None:
    fake.book.buying_power_override = 0.0  # every entry is refused 403 "insufficient buying power"
    url = f"sqlite:///{tmp_path}/r.db"
    assert run_forked(*_args(files, model_dir, url, "refused"), env=_env(fake)) == 0
    store = session_store(url, "refused")
    entries = [o for o in store.orders() if o["reason"] == "entry"]
    assert len(entries) >= 3
    assert {o["status"] for o in entries} == {"rejected"}
    assert all("insufficient buying power" in o["message"] for o in entries)
    assert fake.order_count() == 0 and not store.fills() and not fake.positions()
    strat = _strategy(url, store)
    assert all(strat.position(i) == (0, 0.0) and strat.pending(i) == 0 for i in range(len(SYMBOLS)))


def test_the_live_money_guard(fake: FakeAlpaca, files: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tradingmodel.cli import app

    base = _args(files, tmp_path / "no-model", f"sqlite:///{tmp_path}/g.db", "guard")
    runner = CliRunner()
    r = runner.invoke(app, base, env=_env(fake, APCA_API_BASE_URL="https://api.alpaca.markets"))
    assert r.exit_code == 2 and "error: APCA_API_BASE_URL=https://api.alpaca.markets is a live-money" in r.stderr
    r = runner.invoke(app, ["live", *base[1:]], env=_env(fake))
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "error: refusing to trade a live-money Alpaca account without --confirm-live"
    ]
    r = runner.invoke(app, ["live", "--confirm-live", *base[3:]], env=_env(fake))  # no --broker alpaca
    assert r.exit_code == 2 and "error: `tradingmodel live` trades a broker account: give --broker alpaca" in r.stderr
    assert not (tmp_path / "g.db").exists(), "refused before anything was opened"


@pytest.mark.parametrize(
    ("switch", "message"),
    [("closed", "error: the market is closed"), ("untradable", "error: BBB is not tradable at Alpaca")],
)
def test_the_engine_runs_the_pre_trade_checks_at_start_and_fails_clearly(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path, switch: str, message: str
) -> None:
    from typer.testing import CliRunner

    from tradingmodel.cli import app

    if switch == "closed":
        fake.book.clock_open = False
    else:
        fake.book.add_asset("BBB", tradable=False)
    r = CliRunner().invoke(app, _args(files, model_dir, f"sqlite:///{tmp_path}/p.db", "pre"), env=_env(fake))
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines()[-1].startswith(message), r.stderr
    assert fake.order_count() == 0
