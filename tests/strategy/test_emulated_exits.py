"""Emulated stop / target (``P_EMULATE_EXITS``: an executor that holds no resting legs, e.g. Alpaca with fractional
shares): the strategy decides the exit at the close of the bar that touched a level and it fills at the next open,
through the same two phases and the simulated executor; with the flag off nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import prepare
from tradingmodel.config import TradingConfig
from tradingmodel.strategy import StrategyState, step
from tradingmodel.strategy import layout as L

from ..backtest.bt_scenarios import BASE, build_prep, flat
from .test_two_phases import LIVE, bars_with_gaps

ENTRY = (100.0, 100.0, 100.0, 100.0)  # the entry fills at 100: stop 99.5, target 101 (long)


def _run(bars, preds, *, emulate: bool, fractional: bool = False, **trading):
    prep = build_prep({"AAA": bars}, {"AAA": preds})
    state = StrategyState.new(prep.symbols, TradingConfig(**{**BASE, **trading}), capacity=8)
    state.set_execution(emulate_exits=emulate, fractional=fractional)
    step(state, prep.mkt, 0, 0)
    return state


def _trades(state):
    _, trades, _, _ = state.used()
    return [
        (int(r[L.TR_SIDE]), int(r[L.TR_ENTRY_T]), int(r[L.TR_EXIT_T]), r[L.TR_EXIT_PRICE], L.PURPOSES[r[L.TR_REASON]])
        for r in trades
    ]


def _orders(state):
    _, _, orders, _ = state.used()
    return [
        (int(r[L.OR_T]), int(r[L.OR_SIDE]), L.ORDER_TYPES[r[L.OR_TYPE]], L.PURPOSES[r[L.OR_PURPOSE]]) for r in orders
    ]


@pytest.mark.parametrize(
    ("bar", "reason"),
    [
        ((100.0, 100.2, 99.4, 99.8), "stop"),  # low 99.4 <= 99.5
        ((100.0, 101.2, 99.9, 101.1), "target"),  # high 101.2 >= 101
        ((100.0, 101.5, 99.0, 100.0), "stop"),  # both in one bar: the stop
    ],
)
def test_a_long_exits_at_the_next_open_after_the_bar_that_touched_a_level(bar, reason):
    bars = [ENTRY, ENTRY, bar, (99.7, 99.9, 99.6, 99.8), *flat(99.8, 2)]
    state = _run(bars, {0: 102.0}, emulate=True)
    assert _trades(state) == [(1, 1, 3, 99.7, reason)]  # market at bar 3's open, not at the level
    assert _orders(state) == [(0, 1, "market_next_open", "entry"), (2, -1, "market_next_open", reason)]
    assert state.pending == {} and state.positions() == {}
    # the same bars with the executor holding the legs: the leg fills inside bar 2 at its level
    native = _run(bars, {0: 102.0}, emulate=False)
    level = 99.5 if reason == "stop" else 101.0
    assert _trades(native) == [(1, 1, 2, pytest.approx(level), reason)]
    assert _orders(native)[1] == (2, -1, "stop" if reason == "stop" else "limit", reason)


@pytest.mark.parametrize(
    ("bar", "reason"),
    [
        ((100.0, 100.6, 99.9, 100.2), "stop"),  # high 100.6 >= 100.5
        ((100.0, 100.1, 98.9, 99.1), "target"),  # low 98.9 <= 99
        ((100.0, 100.6, 98.9, 100.0), "stop"),
    ],
)
def test_a_short_mirrors_it(bar, reason):
    bars = [ENTRY, ENTRY, bar, (99.7, 99.9, 99.6, 99.8), *flat(99.8, 2)]
    state = _run(bars, {0: 98.0}, emulate=True)
    assert _trades(state) == [(-1, 1, 3, 99.7, reason)]
    assert _orders(state) == [(0, -1, "market_next_open", "entry"), (2, 1, "market_next_open", reason)]


def test_the_entry_bar_counts_and_an_exit_is_decided_once():
    """The entry's own bar can touch the stop (as a resting stop would fire in it); while the exit waits for the
    next open nothing else is decided for the symbol; the cooldown after a stop counts from the exit bar."""
    bars = [ENTRY, (100.0, 100.1, 99.4, 99.6), (99.6, 99.6, 99.0, 99.1), *flat(99.1, 8)]
    preds = dict.fromkeys(range(len(bars)), 102.0)
    prep = build_prep({"AAA": bars}, {"AAA": preds})
    state = StrategyState.new(prep.symbols, TradingConfig(**{**BASE, "cooldown_bars": 3}), capacity=8)
    state.set_execution(emulate_exits=True, fractional=False)
    step(state, prep.mkt[:2], 0, 0)
    assert state.pending == {"AAA": "exit"} and _orders(state)[-1] == (1, -1, "market_next_open", "stop")
    step(state, prep.mkt[2:], 2, 0)
    assert _trades(state)[0] == (1, 1, 2, 99.6, "stop")
    assert [o for o in _orders(state) if o[3] == "stop"] == [(1, -1, "market_next_open", "stop")]
    _, _, _, rej = state.used()
    assert [(int(r[L.RJ_T]), L.REJECTION_REASONS[r[L.RJ_REASON]]) for r in rej] == [
        (2, "cooldown"),
        (3, "cooldown"),
        (4, "cooldown"),
    ]
    assert _orders(state)[2] == (5, 1, "market_next_open", "entry")  # 3 bars after the exit bar


def test_emulated_entries_carry_no_levels_for_the_executor():
    state = StrategyState.new(["AAA"], TradingConfig(**BASE))
    state.set_execution(emulate_exits=True, fractional=False)
    row = build_prep({"AAA": [ENTRY]}, {"AAA": {0: 102.0}}).mkt[0]
    (entry,) = state.decide(row, 0, 0)
    assert entry.purpose == "entry" and np.isnan(entry.stop_loss) and np.isnan(entry.take_profit)


def test_fractional_sizing_for_longs_and_whole_shares_for_shorts():
    bars = [(100.3, 100.3, 100.3, 100.3)] * 3
    long = _run(bars, {0: 103.0}, emulate=True, fractional=True)
    assert long.positions()["AAA"][1] == 9.970089  # $1,000 / 100.3, in millionths of a share
    short = _run(bars, {0: 97.0}, emulate=True, fractional=True)
    assert short.positions()["AAA"][:2] == (-1, 9.0)
    whole = _run(bars, {0: 103.0}, emulate=True, fractional=False)
    assert whole.positions()["AAA"][1] == 9.0


def test_with_the_flags_off_the_run_is_the_backtest_and_with_emulation_every_exit_is_decided():
    bars, preds = bars_with_gaps()
    prep = prepare(bars, preds)
    loop, curve = run_prepared(prep, LIVE)
    off = StrategyState.new(prep.symbols, LIVE, capacity=8)
    off.set_execution(emulate_exits=False, fractional=False)
    for t in range(prep.mkt.shape[0]):
        step(off, prep.mkt[t : t + 1], t, int(prep.days[t]))
    for a, b in zip(loop.used(), off.used(), strict=True):
        np.testing.assert_array_equal(a, b)

    on = StrategyState.new(prep.symbols, LIVE, capacity=8)
    on.set_execution(emulate_exits=True, fractional=False)
    for t in range(prep.mkt.shape[0]):
        step(on, prep.mkt[t : t + 1], t, int(prep.days[t]))
    trades, orders = _trades(on), _orders(on)
    assert {o[2] for o in orders} <= {"market_next_open", "market_on_close"}  # no resting stop / limit
    hits = [t for t in trades if t[4] in ("stop", "target")]
    assert len(hits) >= 5 and {t[4] for t in hits} == {"stop", "target"}
    decided = {(o[0], o[3]) for o in orders}
    for _side, _entry_t, exit_t, price, reason in hits:
        s = next(int(r[L.TR_SYM]) for r in on.used()[1] if int(r[L.TR_EXIT_T]) == exit_t)
        assert price == pytest.approx(prep.mkt[exit_t, s, L.K_OPEN], rel=1e-3)  # the next open, with slippage
        assert any(reason == r and t < exit_t for t, r in decided)
    assert len([o for o in orders if o[3] in ("stop", "target")]) == len(hits)  # each logged once
