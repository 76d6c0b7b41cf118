"""The live strategy books the executor's fills: a partially filled entry is a smaller position, a refused
entry leaves it flat, a refused exit is decided again; an old session snapshot is refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tradingmodel.config import TradingConfig
from tradingmodel.execution.orders import OrderRequest, OrderUpdate, client_order_id
from tradingmodel.execution.paper import PaperExecutor
from tradingmodel.live.strategy import SNAPSHOT_FORMAT, LiveStrategy, SnapshotFormatError
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.messages import Fill

CFG = TradingConfig(buy_threshold=0.0, sell_threshold=0.0, volume_multiplier=0.0, max_holding_bars=2)


def _slice(close: float, pred: float) -> np.ndarray:
    mkt = np.full((1, L.NK), np.nan)
    mkt[0, L.K_OPEN : L.K_VOLUME + 1] = close, close, close, close, 1000.0
    mkt[0, L.K_VOLAVG], mkt[0, L.K_RSI], mkt[0, L.K_RETSTD] = 10.0, 50.0, 0.01
    mkt[0, L.K_PRED], mkt[0, L.K_SESSION_LAST] = pred, 0.0
    return mkt


def _entered() -> tuple[LiveStrategy, float]:
    live = LiveStrategy.new(["AAA"], CFG)
    res = live.decide(_slice(100.0, 101.0), day=1)
    (entry,) = res.orders
    assert entry.purpose == "entry" and entry.side == 1 and live.awaits(0, "entry")
    return live, entry.quantity


def test_a_refused_entry_leaves_the_strategy_flat() -> None:
    live, _ = _entered()
    live.apply([live.rejection(0, "entry", "insufficient_cash")])
    assert live.position(0) == (0, 0.0) and live.pending(0) == 0 and not live.awaits(0, "entry")
    _, cash, gross = live.account()
    assert cash == CFG.deposit and gross == 0.0
    assert live.decide(_slice(100.0, 101.0), day=1).orders[0].purpose == "entry"  # free to enter again


def test_partial_entry_fills_make_a_smaller_position_and_the_exit_follows_the_filled_quantity() -> None:
    live, qty = _entered()
    first = Fill(0, 1, 3.0, 100.0, 100.0, 0.5, "entry", live.stamp)
    live.apply([first])
    assert live.position(0) == (1, 3.0) and live.pending(0) == 0
    live.apply([Fill(0, 1, 2.0, 101.0, 101.0, 0.25, "entry", live.stamp)])  # the next execution of it
    side, held = live.position(0)
    assert (side, held) == (1, 5.0) and held < qty
    sf = live.state.sf[0]
    assert sf[L.F_ENTRY_PRICE] == pytest.approx((3 * 100.0 + 2 * 101.0) / 5)
    assert sf[L.F_STOP] == pytest.approx(sf[L.F_ENTRY_PRICE] * (1 - CFG.stop_loss_threshold))
    assert live.account()[1] == pytest.approx(CFG.deposit - 3 * 100.0 - 0.5 - 2 * 101.0 - 0.25)
    exits = []
    while not exits:  # held past max_holding_bars: a time exit of exactly the shares held
        exits = [o for o in live.decide(_slice(100.5, 100.5), day=1).orders if o.purpose == "time"]
    assert [o.quantity for o in exits] == [5.0] and live.awaits(0, "time")
    live.apply([Fill(0, -1, 2.0, 100.0, 100.0, 0.0, "time", live.stamp)])  # a partial exit shrinks it
    assert live.position(0) == (1, 3.0)
    live.apply([live.rejection(0, "time", "no_position")])  # the rest canceled: decided again
    assert live.pending(0) == 0
    again = [o for o in live.decide(_slice(100.5, 100.5), day=1).orders if o.purpose == "time"]
    assert [o.quantity for o in again] == [3.0]
    live.apply([Fill(0, -1, 3.0, 100.0, 100.0, 0.0, "time", live.stamp)])
    assert live.position(0) == (0, 0.0)


def test_a_fill_that_does_not_match_the_book_is_refused() -> None:
    live, _ = _entered()
    live.apply([Fill(0, 1, 3.0, 100.0, 100.0, 0.0, "entry", live.stamp)])
    with pytest.raises(ValueError, match="does not close the position|not part of the position"):
        live.apply([Fill(0, -1, 4.0, 100.0, 100.0, 0.0, "time", live.stamp)])


def test_snapshot_round_trip_and_an_old_format_is_refused_by_name() -> None:
    live, _ = _entered()
    live.apply([Fill(0, 1, 3.0, 100.0, 100.0, 0.5, "entry", live.stamp)])
    back = LiveStrategy.restore(live.snapshot(), ["AAA"], CFG)
    assert back.snapshot() == live.snapshot() and back.position(0) == (1, 3.0)
    blob = live.snapshot()
    n = int.from_bytes(blob[:4], "little")
    head = json.loads(blob[4 : 4 + n])
    old = json.dumps({**head, "format": 2, "parts": [head["parts"][0], 0]}).encode()
    with pytest.raises(SnapshotFormatError, match=f"format 2; this version reads format {SNAPSHOT_FORMAT}"):
        LiveStrategy.restore(len(old).to_bytes(4, "little") + old + blob[4 + n :], ["AAA"], CFG)


@pytest.mark.parametrize("status", ["canceled", "rejected", "expired"])
def test_an_entry_that_ends_without_a_fill_is_given_back_and_leaves_the_strategy_flat(
    tmp_path: Path, status: str
) -> None:
    """Through the engine's order book and a real session store: the executor's terminal update of an entry
    the strategy waits for becomes its rejection; a canceled leg or a partly filled entry does not."""
    from tradingmodel.live.crash import CrashPoints
    from tradingmodel.live.events import Publisher
    from tradingmodel.live.orders import OrderBook
    from tradingmodel.store import get_engine
    from tradingmodel.store.sessions import SessionStore, SliceWrite, open_session

    db = get_engine(f"sqlite:///{tmp_path}/s.db")
    store = SessionStore(db, open_session(db, "s", symbols=["AAA"], config_toml="").run_id)
    book = OrderBook(store, PaperExecutor(CFG), CrashPoints(""), Publisher())
    live, qty = _entered()
    bar = datetime(2024, 2, 5, 15, 0, tzinfo=UTC)
    entry = OrderRequest(client_order_id("s", bar, "AAA", "entry"), "AAA", "buy", qty, "market", "entry", bar)
    store.commit_slice(SliceWrite(bar, live.snapshot(), SNAPSHOT_FORMAT, orders=[entry]))
    book.committed([entry], [])
    leg = OrderUpdate(entry.client_order_id + "-sl", "canceled")
    assert book.reports([], [leg], live, live.stamp) == []  # not a decision the strategy waits for
    reports = book.reports(
        [], [OrderUpdate(entry.client_order_id, status, message="insufficient buying power")], live, 1
    )
    assert [(type(r).__name__, r.purpose, r.reason) for r in reports] == [("Rejection", "entry", "insufficient_cash")]
    live.apply(reports)
    assert live.position(0) == (0, 0.0) and live.pending(0) == 0
    assert book.reports([], [OrderUpdate(entry.client_order_id, status)], live, 1) == []  # given back once


def test_the_execution_mode_is_kept_in_the_snapshot_and_a_change_is_refused_while_the_book_is_busy() -> None:
    from tradingmodel.live.strategy import ExecutionModeError

    live = LiveStrategy.new(["AAA"], CFG, emulate_exits=True, fractional=True)
    flat = live.snapshot()
    again = LiveStrategy.restore(flat, ["AAA"], CFG)  # None: as saved
    assert again.emulates_exits and again.state.fractional
    switched = LiveStrategy.restore(flat, ["AAA"], CFG, emulate_exits=False, fractional=False)  # flat: taken
    assert not switched.emulates_exits and not switched.state.fractional
    (entry,) = live.decide(_slice(100.0, 101.0), day=1).orders
    assert entry.quantity == 10.0  # $1,000 at 100: fractional sizing gives the same whole number here
    busy = live.snapshot()  # an entry waits for the next open
    with pytest.raises(ExecutionModeError, match=r"stops and targets emulated by the engine and fractional .* AAA"):
        LiveStrategy.restore(busy, ["AAA"], CFG, emulate_exits=False, fractional=False)
    same = LiveStrategy.restore(busy, ["AAA"], CFG, emulate_exits=True, fractional=True)
    assert same.awaits(0, "entry") and not same.awaits(0, "stop")


def test_warm_loads_every_compiled_phase_before_the_first_bar() -> None:
    """In a fresh process, ``LiveStrategy.warm`` and the paper executor's start leave numba's dispatchers of the
    decide and fill phases (and the fill model) loaded, so that neither waits on the first slice or fill."""
    code = (
        "import asyncio, json\n"
        "from tradingmodel.config import TradingConfig\n"
        "from tradingmodel.execution import fills\n"
        "from tradingmodel.execution.paper import PaperExecutor\n"
        "from tradingmodel.live.strategy import LiveStrategy\n"
        "from tradingmodel.strategy import core\n"
        "fs = (core.decide, core.apply_fills, core.end_orders, core.fill_row, fills.check_exit, fills.fill_price)\n"
        "before = [len(f.signatures) for f in fs]\n"
        "LiveStrategy.warm(TradingConfig())\n"
        "asyncio.run(PaperExecutor(TradingConfig()).start())\n"
        "print(json.dumps([before, [len(f.signatures) for f in fs]]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = json.loads(run.stdout.strip().splitlines()[-1])
    assert before == [0] * 6 and all(n >= 1 for n in after), (before, after)
