"""Hand-made scenarios: a few bars, explicit RSI / volume average / predictions, exact expected trades.

Defaults (see ``bt_scenarios.BASE``): deposit $10,000, 10% of equity per position, stop 0.5%,
target 1%, buy threshold 1.5%, sell threshold 0.66%, no costs, no cooldown, no session flattening.
Bar t is ``(open, high, low, close)``; the minute axis starts at 14:30 UTC.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tradingmodel.config import TradingConfig
from tradingmodel.strategy import StrategyState, step
from tradingmodel.strategy import layout as L

from .bt_scenarios import BASE, START, build_prep, flat, run_scenario


def ts(i: int) -> pd.Timestamp:
    return START + pd.Timedelta(minutes=i)


def trade_tuples(result) -> list[tuple]:
    t = result.trades
    return [
        (
            r.side,
            r.entry_time,
            round(r.entry_price, 6),
            r.exit_time,
            round(r.exit_price, 6),
            r.quantity,
            round(r.pnl, 6),
            r.exit_reason,
        )
        for r in t.itertuples()
    ]


ENTRY = [(100.0, 100.0, 100.0, 100.0), (100.0, 100.2, 99.8, 100.1)]  # t0 signal, t1 entry at 100


def test_long_entry_and_holding_time_exit():
    bars = ENTRY + [
        (100.1, 100.3, 99.9, 100.2),
        (100.2, 100.3, 100.0, 100.2),
        (100.8, 100.9, 100.7, 100.8),
        *flat(100.8, 1),
    ]
    r = run_scenario(bars, {0: 102.0}, trading={"max_holding_bars": 3})
    # held bars t1, t2, t3; exit decided at t3's close, filled at t4's open
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(4), 100.8, 10.0, 8.0, "time")]
    assert r.equity["equity"].iloc[-1] == pytest.approx(10_008.0)
    assert r.equity["cash"].iloc[-1] == pytest.approx(10_008.0)
    assert list(r.orders["purpose"]) == ["entry", "time"]
    assert list(r.orders["timestamp"]) == [ts(0), ts(3)]
    assert list(r.fills["timestamp"]) == [ts(1), ts(4)]
    assert r.metrics["total_trades"] == 1 and r.metrics["total_profit"] == pytest.approx(8.0)


def test_short_entry():
    bars = ENTRY + [(100.1, 100.3, 99.9, 100.2), (100.2, 100.3, 100.0, 100.2), (99.6, 99.7, 99.5, 99.6), *flat(99.6, 1)]
    r = run_scenario(bars, {0: 99.0}, trading={"max_holding_bars": 3})
    assert trade_tuples(r) == [("short", ts(1), 100.0, ts(4), 99.6, 10.0, 4.0, "time")]
    assert r.equity["equity"].iloc[-1] == pytest.approx(10_004.0)


@pytest.mark.parametrize(
    ("pred", "overrides", "trading", "trades"),
    [
        (102.0, {}, {}, 1),  # control: all rules pass
        (102.0, {L.K_RSI: 70.0}, {}, 0),  # long needs RSI < 70
        (102.0, {L.K_RSI: 69.9}, {}, 1),
        (99.0, {L.K_RSI: 30.0}, {}, 0),  # short needs RSI > 30
        (99.0, {L.K_RSI: 30.1}, {}, 1),
        (102.0, {L.K_VOLUME: 500.0}, {}, 0),  # volume must exceed its average (x 1.0)
        (102.0, {L.K_VOLUME: 700.0}, {"volume_multiplier": 1.5}, 0),
        (102.0, {L.K_VOLUME: 800.0}, {"volume_multiplier": 1.5}, 1),
        (101.4, {}, {}, 0),  # below 1.5%
        (99.4, {}, {}, 0),  # above -0.66%
        (99.0, {}, {"allow_short": False}, 0),
        (102.0, {L.K_RSI: math.nan}, {}, 0),  # warm-up
        (102.0, {L.K_VOLAVG: math.nan}, {}, 0),
        # sigma units: 1.5% move vs sigma 0.001 -> 15 sigma; threshold 20 sigma blocks, 10 passes
        (101.6, {}, {"threshold_unit": "sigma", "buy_threshold": 20.0}, 0),
        (101.6, {}, {"threshold_unit": "sigma", "buy_threshold": 10.0}, 1),
        (101.6, {L.K_RETSTD: math.nan}, {"threshold_unit": "sigma", "buy_threshold": 10.0}, 0),
    ],
)
def test_entry_filters(pred, overrides, trading, trades):
    r = run_scenario(
        ENTRY + flat(100.1, 2), {0: pred}, trading=trading, overrides={("AAA", 0, k): v for k, v in overrides.items()}
    )
    assert len(r.trades) == trades


@pytest.mark.parametrize(
    ("bar2", "side", "exit_price", "pnl", "reason"),
    [
        ((100.0, 100.1, 99.4, 99.7), "long", 99.5, -5.0, "stop"),
        ((100.0, 101.2, 99.9, 101.1), "long", 101.0, 10.0, "target"),
        ((100.0, 101.2, 99.4, 100.0), "long", 99.5, -5.0, "stop"),  # both touched: stop first
        ((99.0, 99.2, 98.8, 99.1), "long", 99.0, -10.0, "stop"),  # gap through the stop: the open
        ((101.5, 101.6, 101.4, 101.5), "long", 101.5, 15.0, "target"),  # gap through the target
        ((100.0, 100.6, 99.9, 100.2), "short", 100.5, -5.0, "stop"),
        ((100.0, 100.1, 98.9, 99.2), "short", 99.0, 10.0, "target"),
        ((100.0, 100.6, 98.9, 100.0), "short", 100.5, -5.0, "stop"),
        ((101.0, 101.2, 100.9, 101.0), "short", 101.0, -10.0, "stop"),
    ],
)
def test_stop_and_target(bar2, side, exit_price, pnl, reason):
    pred = 102.0 if side == "long" else 99.0
    r = run_scenario([*ENTRY, bar2, *flat(bar2[3], 2)], {0: pred})
    assert trade_tuples(r) == [(side, ts(1), 100.0, ts(2), exit_price, 10.0, pnl, reason)]
    assert r.equity["equity"].iloc[-1] == pytest.approx(10_000.0 + pnl)


def test_stop_on_the_entry_bar():
    r = run_scenario([flat(100.0, 1)[0], (100.0, 100.1, 99.3, 99.6), *flat(99.6, 2)], {0: 102.0})
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(1), 99.5, 10.0, -5.0, "stop")]


def test_stop_is_set_from_the_entry_fill_price():
    # 10 bps slippage: filled at 100.1, stop 0.5% below the fill = 99.5995; the low 99.55 touches it
    # (a stop taken from the 100.0 open, 99.5, would not be touched)
    r = run_scenario(
        [flat(100.0, 1)[0], (100.0, 100.1, 99.55, 99.8), *flat(99.8, 2)], {0: 102.0}, trading={"slippage_bps": 10.0}
    )
    entry = 100.0 * 1.001
    exit_price = entry * 0.995 * 0.999
    assert trade_tuples(r) == [
        ("long", ts(1), round(entry, 6), ts(1), round(exit_price, 6), 10.0, round((exit_price - entry) * 10, 6), "stop")
    ]


def test_buy_and_hold_from_each_symbols_first_open():
    # AAA bought at 100 (its first open, not its close 101); BBB's first bar is t1, bought at its open 50
    bars = {
        "AAA": [(100.0, 101.0, 100.0, 101.0), *flat(110.0, 2)],
        "BBB": [*flat(40.0, 1), *flat(50.0, 1), (50.0, 60.0, 50.0, 60.0)],
    }
    r = run_scenario(bars, {}, overrides={("BBB", 0, k): math.nan for k in (L.K_OPEN, L.K_CLOSE)})
    # t0: AAA 50 shares x 101 + BBB's $5,000 still cash; t2: 50 x 110 + 100 x 60
    assert list(r.equity["buy_and_hold"]) == pytest.approx([10_050.0, 10_500.0, 11_500.0])
    assert r.metrics["buy_and_hold_return_pct"] == pytest.approx(15.0)


def test_session_close_exit_and_no_entry_on_the_last_bar():
    bars = [*ENTRY, (100.1, 100.3, 99.9, 100.2), (100.2, 100.4, 100.1, 100.3), *flat(100.5, 3)]
    r = run_scenario(
        bars,
        {0: 102.0, 3: 102.0, 6: 103.0},
        trading={"flatten_at_close": True},
        session_last=[3, 6],
        days=[0, 0, 0, 0, 1, 1, 1],
    )
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(3), 100.3, 10.0, 3.0, "session_close")]
    assert list(r.orders["type"]) == ["market_next_open", "market_on_close"]
    assert list(zip(r.rejections["timestamp"], r.rejections["reason"], strict=True)) == [(ts(6), "last_bar_of_session")]
    # the same bars without flattening: the position runs to the end of the data
    r = run_scenario(bars, {0: 102.0}, trading={"flatten_at_close": False}, session_last=[3, 6])
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(6), 100.5, 10.0, 5.0, "end")]


ALL_IN = {
    "position_fraction": 1.0,
    "max_position_fraction": 1.0,
    "stop_loss_threshold": 0.2,
    "take_profit_threshold": 0.5,
}
LOSING_DAY = [flat(100.0, 1)[0], flat(100.0, 1)[0], (99.0, 99.0, 97.5, 97.5), (97.0, 97.3, 97.0, 97.2), *flat(97.0, 2)]


def test_daily_loss_limit_halts_until_the_next_session():
    r = run_scenario(
        LOSING_DAY,
        {0: 102.0, 3: 100.0, 4: 100.0},
        days=[0, 0, 0, 0, 1, 1],
        trading={**ALL_IN, "daily_loss_limit": 0.02, "max_drawdown_limit": 0.5},
    )
    # t2 closes at equity 9,750 <= 9,800: halted; the exit fills at t3's open; t3's signal is rejected
    assert trade_tuples(r) == [
        ("long", ts(1), 100.0, ts(3), 97.0, 100.0, -300.0, "halt"),
        ("long", ts(5), 97.0, ts(5), 97.0, 100.0, 0.0, "end"),
    ]
    assert list(zip(r.rejections["timestamp"], r.rejections["reason"], strict=True)) == [(ts(3), "halted")]
    assert r.equity["equity"].iloc[-1] == pytest.approx(9_700.0)


def test_drawdown_limit_halts_for_good():
    r = run_scenario(
        LOSING_DAY,
        {0: 102.0, 3: 100.0, 4: 100.0},
        days=[0, 0, 0, 0, 1, 1],
        trading={**ALL_IN, "daily_loss_limit": 0.5, "max_drawdown_limit": 0.02},
    )
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(3), 97.0, 100.0, -300.0, "halt")]
    assert list(r.rejections["reason"]) == ["halted", "halted"]
    assert list(r.rejections["timestamp"]) == [ts(3), ts(4)]


def test_halt_cancels_an_entry_waiting_for_a_missing_bar():
    """BBB's entry (decided at t1) waits for its next bar; BBB has no bar at t2, where the daily
    loss halts trading: the entry is cancelled, not filled at t3 while halted."""
    aaa = [*flat(100.0, 2), (100.0, 100.0, 89.9, 90.0), *flat(90.0, 3)]
    r = run_scenario(
        {"AAA": aaa, "BBB": flat(50.0, 6)},
        {"AAA": {0: 102.0}, "BBB": {1: 51.0}},
        trading={"daily_loss_limit": 0.005, "stop_loss_threshold": 0.5},
        overrides={("BBB", 2, L.K_OPEN): math.nan, ("BBB", 2, L.K_CLOSE): math.nan},
    )
    assert trade_tuples(r) == [("long", ts(1), 100.0, ts(3), 90.0, 10.0, -100.0, "halt")]
    assert list(zip(r.rejections["timestamp"], r.rejections["symbol"], r.rejections["reason"], strict=True)) == [
        (ts(2), "BBB", "halted")
    ]
    assert r.equity["equity"].iloc[-1] == pytest.approx(9_900.0)


@pytest.mark.parametrize(
    ("trading", "qty"),
    [
        ({}, 10.0),  # 10% of $10,000 at $100
        ({"position_fraction": 0.5}, 25.0),  # capped by max_position_fraction 0.25
        ({"sizing": "risk", "risk_per_trade": 0.001}, 20.0),  # $10 at a 0.5% stop -> $2,000
        ({"sizing": "risk", "risk_per_trade": 0.01}, 25.0),  # $20,000 capped at 25%
        ({"position_fraction": 0.0999}, 9.0),  # whole shares, rounded down
    ],
)
def test_position_sizing(trading, qty):
    r = run_scenario(ENTRY + flat(100.0, 1), {0: 102.0}, trading=trading)
    assert list(r.trades["quantity"]) == [qty]


def two_symbols(trading: dict):
    bars = {"AAA": ENTRY + flat(100.0, 1), "BBB": [flat(50.0, 1)[0], *flat(50.0, 2)]}
    return run_scenario(bars, {"AAA": {0: 102.0}, "BBB": {0: 51.0}}, trading=trading)


def test_max_open_positions():
    r = two_symbols({"max_open_positions": 1})
    assert list(r.trades["symbol"]) == ["AAA"]
    assert list(zip(r.rejections["symbol"], r.rejections["reason"], strict=True)) == [("BBB", "max_open_positions")]


def test_gross_exposure_clips_then_rejects():
    r = two_symbols({"max_gross_exposure": 0.15})  # $1,000 in AAA leaves $500 = 10 BBB shares
    assert list(zip(r.trades["symbol"], r.trades["quantity"], strict=True)) == [("AAA", 10.0), ("BBB", 10.0)]
    r = two_symbols({"max_gross_exposure": 0.1})
    assert list(r.trades["symbol"]) == ["AAA"]
    assert list(r.rejections["reason"]) == ["max_gross_exposure"]
    r = two_symbols({})  # shared cash account: both fit
    assert list(zip(r.trades["symbol"], r.trades["quantity"], strict=True)) == [("AAA", 10.0), ("BBB", 20.0)]


def test_entry_needs_cash_at_the_fill():
    r = run_scenario(
        [flat(100.0, 1)[0], *flat(101.0, 2)],
        {0: 102.0},
        trading={"position_fraction": 1.0, "max_position_fraction": 1.0},
    )
    assert r.trades.empty
    assert list(zip(r.rejections["timestamp"], r.rejections["reason"], strict=True)) == [(ts(1), "insufficient_cash")]


def test_cooldown_after_a_stop_out():
    bars = [flat(100.0, 1)[0], (100.0, 100.1, 99.4, 99.6), *flat(99.6, 4)]
    r = run_scenario(bars, {0: 102.0, 1: 102.0, 2: 102.0, 3: 102.0}, trading={"cooldown_bars": 2})
    assert trade_tuples(r) == [
        ("long", ts(1), 100.0, ts(1), 99.5, 10.0, -5.0, "stop"),
        ("long", ts(4), 99.6, ts(5), 99.6, 10.0, 0.0, "end"),
    ]
    assert list(zip(r.rejections["timestamp"], r.rejections["reason"], strict=True)) == [
        (ts(1), "cooldown"),
        (ts(2), "cooldown"),
    ]


def test_costs_commission_and_slippage():
    bars = ENTRY + [
        (100.1, 100.3, 99.9, 100.2),
        (100.2, 100.3, 100.0, 100.2),
        (100.8, 100.9, 100.7, 100.8),
        *flat(100.8, 1),
    ]
    r = run_scenario(
        bars,
        {0: 102.0},
        trading={"max_holding_bars": 3, "commission_per_share": 0.01, "commission_bps": 1.0, "slippage_bps": 10.0},
    )
    buy = 100.0 * 1.001  # 10 bps adverse
    sell = 100.8 * 0.999
    comm_in = 10 * 0.01 + 10 * buy * 1e-4
    comm_out = 10 * 0.01 + 10 * sell * 1e-4
    pnl = (sell - buy) * 10 - comm_in - comm_out
    (t,) = r.trades.itertuples()
    assert (t.entry_price, t.exit_price) == (pytest.approx(buy), pytest.approx(sell))
    assert t.commission == pytest.approx(comm_in + comm_out)
    assert t.pnl == pytest.approx(pnl)
    assert r.equity["cash"].iloc[-1] == pytest.approx(10_000.0 + pnl)
    slippage = 10 * (buy - 100.0) + 10 * (100.8 - sell)
    assert r.metrics["costs_paid"] == pytest.approx(comm_in + comm_out + slippage)
    assert r.metrics["slippage_paid"] == pytest.approx(slippage)


def test_live_state_reports_halt_and_pending_orders():
    """The state a live engine sees, row by row, on the daily-loss scenario."""
    prep = build_prep({"AAA": LOSING_DAY}, {"AAA": {0: 102.0}}, days=[0, 0, 0, 0, 1, 1])
    state = StrategyState.new(["AAA"], TradingConfig(**{**BASE, **ALL_IN, "daily_loss_limit": 0.02}))
    seen = []
    for t in range(prep.mkt.shape[0]):
        curve = step(state, prep.mkt[t : t + 1], stamp=t, day=int(prep.days[t]))
        seen.append((state.status, state.pending, round(float(curve[0, 0]), 6)))
    assert seen == [
        ("trading", {"AAA": "buy"}, 10_000.0),
        ("trading", {}, 10_000.0),
        ("halted_for_the_day", {"AAA": "exit"}, 9_750.0),
        ("halted_for_the_day", {}, 9_700.0),
        ("trading", {}, 9_700.0),
        ("trading", {}, 9_700.0),
    ]
