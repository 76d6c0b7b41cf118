"""The live path: decide -> simulated executor -> apply fills, driven slice by slice from Python with
the object API, gives the backtest's orders, fills, trades, rejections and equity exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradingmodel.backtest import run_backtest
from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import prepare
from tradingmodel.config import TradingConfig
from tradingmodel.data import simulate
from tradingmodel.execution.simulated import SimulatedExecutor
from tradingmodel.strategy import Fill, Order, Rejection, StrategyState
from tradingmodel.strategy import layout as L

from ..backtest.bt_scenarios import BASE, build_prep, flat

# every rule on: sigma thresholds, costs, cooldown, holding time, session close, a daily loss halt
LIVE = TradingConfig(
    threshold_unit="sigma",
    buy_threshold=0.5,
    sell_threshold=0.5,
    cooldown_bars=3,
    max_holding_bars=20,
    commission_per_share=0.005,
    slippage_bps=2.0,
    daily_loss_limit=0.004,
    max_open_positions=2,
)


def bars_with_gaps() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three symbols over three sessions; BBB misses 15% of its bars at random, CCC an hour block and
    its last half hour on day one: slices where some symbols have no bar."""
    bars = simulate(["AAA", "BBB", "CCC"], 3, seed=7)
    rng = np.random.default_rng(3)
    ny = bars["timestamp"].dt.tz_convert("America/New_York")
    drop = (bars["symbol"] == "BBB") & (rng.random(len(bars)) < 0.15)
    drop |= (bars["symbol"] == "CCC") & (ny.dt.hour == 11)
    drop |= (bars["symbol"] == "CCC") & (ny.dt.day == ny.dt.day.iloc[0]) & (ny.dt.hour == 15) & (ny.dt.minute >= 30)
    bars = bars[~drop].reset_index(drop=True)
    pred = bars["close"].to_numpy() * (1 + 0.001 * rng.standard_normal(len(bars)))
    return bars, pd.DataFrame({"symbol": bars["symbol"], "timestamp": bars["timestamp"], "predicted_close": pred})


def drive(prep, trading: TradingConfig):
    """The two phases per slice through the Python objects, as a live paper session runs them."""
    state = StrategyState.new(prep.symbols, trading, capacity=8)  # tiny logs: growing is exercised
    sim = SimulatedExecutor.for_state(state)
    curve = np.zeros((prep.mkt.shape[0], 3))
    seen_orders: list[Order] = []
    seen_reports = []
    for t in range(prep.mkt.shape[0]):
        reports = sim.on_bar(prep.mkt[t], t)
        state.apply_fills(reports)
        orders = state.decide(prep.mkt[t], t, int(prep.days[t]))
        closes = sim.submit(orders)
        state.apply_fills(closes)
        seen_orders += orders
        seen_reports += reports + closes
        curve[t] = state.equity, state.acct[L.A_CASH], state.acct[L.A_GROSS]
        assert sim.cash == state.acct[L.A_CASH]  # two books, one cash figure
    end = sim.submit(state.end_orders())
    state.apply_fills(end)
    seen_reports += end
    curve[-1] = state.equity, state.acct[L.A_CASH], state.acct[L.A_GROSS]
    return state, curve, seen_orders, seen_reports


def test_python_two_phases_equal_the_compiled_backtest():
    bars, preds = bars_with_gaps()
    prep = prepare(bars, preds)
    assert np.isnan(prep.mkt[:, :, L.K_CLOSE]).any(axis=0).tolist() == [False, True, True]
    loop, loop_curve = run_prepared(prep, LIVE)
    live, live_curve, orders, reports = drive(prep, LIVE)
    for a, b in zip(loop.used(), live.used(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loop_curve, live_curve)
    np.testing.assert_array_equal(loop.acct, live.acct)
    np.testing.assert_array_equal(loop.sf, live.sf)
    np.testing.assert_array_equal(loop.si, live.si)
    # the run is not trivial: every kind of exit, rejections, a halt, multi-symbol trades
    result = run_backtest(bars, preds, LIVE)
    assert set(result.trades["exit_reason"]) >= {"stop", "target", "time", "session_close", "halt"}
    assert set(result.rejections["reason"]) >= {"halted", "max_open_positions"}
    assert set(result.trades["symbol"]) == {"AAA", "BBB", "CCC"}
    np.testing.assert_array_equal(result.equity["equity"].to_numpy(), live_curve[:, 0])
    fills = [r for r in reports if isinstance(r, Fill)]
    assert len(fills) == len(result.fills)
    assert [f.price for f in fills] == result.fills["price"].tolist()


def test_a_halt_cancels_the_entry_waiting_at_the_executor():
    """The halt scenario of the golden tests through the Python path: BBB's entry waits for its next
    bar, the daily loss halts trading meanwhile, the strategy sends a cancel and it never fills."""
    aaa = [*flat(100.0, 2), (100.0, 100.0, 89.9, 90.0), *flat(90.0, 3)]
    prep = build_prep(
        {"AAA": aaa, "BBB": flat(50.0, 6)},
        {"AAA": {0: 102.0}, "BBB": {1: 51.0}},
        overrides={("BBB", 2, L.K_OPEN): np.nan, ("BBB", 2, L.K_CLOSE): np.nan},
    )
    cfg = TradingConfig(**{**BASE, "daily_loss_limit": 0.005, "stop_loss_threshold": 0.5})
    loop, loop_curve = run_prepared(prep, cfg)
    live, live_curve, orders, reports = drive(prep, cfg)
    for a, b in zip(loop.used(), live.used(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loop_curve, live_curve)
    assert [(o.stamp, o.symbol, o.type) for o in orders if o.type == "cancel"] == [(2, 1, "cancel")]
    assert [f.symbol for f in reports if isinstance(f, Fill) and f.purpose == "entry"] == [0]


def test_fills_come_no_earlier_than_the_next_bar_and_stops_rest_from_the_entry():
    bars, preds = bars_with_gaps()
    prep = prepare(bars, preds)
    _, _, orders, reports = drive(prep, LIVE)
    fills = [r for r in reports if isinstance(r, Fill)]
    entries = [o for o in orders if o.purpose == "entry" and o.type == "market_next_open"]
    assert entries and all(
        o.stop_loss == LIVE.stop_loss_threshold and o.take_profit == LIVE.take_profit_threshold for o in entries
    )
    by_symbol: dict[int, list] = {}
    for x in sorted(orders + fills, key=lambda x: (x.stamp, isinstance(x, Order))):
        by_symbol.setdefault(x.symbol, []).append(x)
    for events in by_symbol.values():
        waiting = None
        for x in events:
            if isinstance(x, Order) and x.type == "market_next_open":
                waiting = x
            elif isinstance(x, Order) and x.type == "cancel":
                waiting = None
            elif isinstance(x, Fill) and x.purpose in ("entry", "time", "halt"):
                assert waiting is not None and x.stamp > waiting.stamp  # next bar of that symbol, or later
                assert x.reference_price == prep.mkt[x.stamp, x.symbol, L.K_OPEN]
                waiting = None


def test_a_rejected_entry_and_the_resting_levels():
    """A long the cash cannot pay is rejected at the fill; the stop / target of a filled entry are the
    executor's resting orders and the strategy's book alike, set from the fill price."""
    symbols = ["AAA"]
    cfg = TradingConfig(
        position_fraction=1.0,
        max_position_fraction=1.0,
        slippage_bps=10.0,
        commission_per_share=0.0,
        flatten_at_close=False,
    )
    state = StrategyState.new(symbols, cfg)
    sim = SimulatedExecutor.for_state(state)
    row = state.new_slice()
    row[0, L.K_OPEN : L.K_VOLUME + 1] = 100.0, 100.0, 100.0, 100.0, 1000.0
    row[0, [L.K_VOLAVG, L.K_RSI, L.K_RETSTD, L.K_PRED, L.K_SESSION_LAST]] = 500.0, 50.0, 0.001, 102.0, 0.0
    state.apply_fills(sim.on_bar(row, 0))
    (entry,) = state.decide(row, 0, 0)
    assert (entry.side, entry.qty, entry.type, entry.purpose) == (1, 100.0, "market_next_open", "entry")
    assert sim.submit([entry]) == [] and state.pending == {"AAA": "buy"}
    row[0, L.K_OPEN : L.K_CLOSE + 1] = 100.0, 100.5, 99.9, 100.2  # 100 shares at 100.1 > $10,000
    (rejected,) = sim.on_bar(row, 1)
    assert isinstance(rejected, Rejection) and rejected.reason == "insufficient_cash"
    state.apply_fills([rejected])
    assert state.pending == {} and state.positions() == {}
    assert state.used()[3].tolist() == [[1, 0, L.RJ_CASH]]

    state = StrategyState.new(symbols, TradingConfig(slippage_bps=10.0, flatten_at_close=False))
    sim = SimulatedExecutor.for_state(state)
    row[0, L.K_OPEN : L.K_CLOSE + 1] = 100.0, 100.0, 100.0, 100.0
    sim.submit(state.decide(row, 0, 0))
    (fill,) = sim.on_bar(row, 1)
    state.apply_fills([fill])
    stop, target = entry.protective_levels(fill.price)
    assert fill.price == pytest.approx(100.1)
    assert state.positions() == {"AAA": (1, 10.0, stop, target)}
    assert sim.positions() == {0: (1, 10.0, stop, target)}
    assert stop == pytest.approx(100.1 * 0.995) and target == pytest.approx(100.1 * 1.01)


def test_apply_fills_refuses_fills_that_do_not_match_the_book():
    state = StrategyState.new(["AAA", "BBB"], TradingConfig())
    before = state.snapshot(include_logs=True)
    good = Fill(
        symbol=0, side=1, qty=10.0, price=100.0, reference_price=100.0, commission=0.0, purpose="entry", stamp=1
    )
    bad_cases = [
        (
            [
                Fill(
                    symbol=0,
                    side=-1,
                    qty=10.0,
                    price=100.0,
                    reference_price=100.0,
                    commission=0.0,
                    purpose="stop",
                    stamp=1,
                )
            ],
            r"AAA: stop fill -1 x 10.0 does not close the position \(\+0",
        ),
        ([good, good], r"AAA: entry fill while a position is open"),
        (
            [
                good,
                Fill(
                    symbol=0,
                    side=-1,
                    qty=5.0,
                    price=99.0,
                    reference_price=99.0,
                    commission=0.0,
                    purpose="time",
                    stamp=2,
                ),
            ],
            r"AAA: time fill -1 x 5.0 does not close the position \(\+1 x 10.0\)",
        ),
        (
            [Fill(symbol=2, side=1, qty=1.0, price=1.0, reference_price=1.0, commission=0.0, purpose="entry", stamp=1)],
            r"symbol index 2 out of range \(2 symbols\)",
        ),
        (
            [Rejection(symbol=1, side=1, qty=1.0, purpose="entry", stamp=1, reason="no money")],
            r"BBB: unknown rejection reason 'no money'",
        ),
        (
            [
                Fill(
                    symbol=1,
                    side=1,
                    qty=1.0,
                    price=1.0,
                    reference_price=1.0,
                    commission=0.0,
                    purpose="pyramid",
                    stamp=1,
                )
            ],
            r"BBB: unknown purpose 'pyramid'",
        ),
        (
            [Fill(symbol=1, side=1, qty=0.0, price=1.0, reference_price=1.0, commission=0.0, purpose="entry", stamp=1)],
            r"BBB: fill needs side \+1/-1 and positive qty and price",
        ),
    ]
    for reports, message in bad_cases:
        with pytest.raises(ValueError, match=message):
            state.apply_fills(reports)
        assert state.snapshot(include_logs=True) == before  # nothing applied
    state.apply_fills([good])
    assert state.positions()["AAA"][:2] == (1, 10.0)
    with pytest.raises(ValueError, match=r"a market slice must have shape \(2, 10\) .* got \(3, 10\)"):
        state.decide(np.zeros((3, L.NK)), 2, 0)
    with pytest.raises(ValueError, match=r"stamp -1 must be a non-negative int below 2\*\*53"):
        state.decide(state.new_slice(), -1, 0)


def test_order_as_an_executor_contract_request():
    from datetime import UTC, datetime

    entry = Order(
        symbol=0, side=-1, qty=7.0, type="market_next_open", purpose="entry", stamp=3, stop_loss=0.01, take_profit=0.02
    )
    req = entry.to_request("tm-entry-1", "AAA", datetime(2024, 1, 2, 15, 0, tzinfo=UTC), reference_price=100.0)
    assert (req.side, req.quantity, req.order_type, req.purpose) == ("sell", 7.0, "market", "entry")
    assert (req.stop_loss, req.take_profit) == (pytest.approx(101.0), pytest.approx(98.0))
    moc = Order(symbol=0, side=1, qty=7.0, type="market_on_close", purpose="session_close", stamp=9)
    req = moc.to_request("tm-close-1", "AAA", datetime(2024, 1, 2, 20, 59, tzinfo=UTC))
    assert (req.side, req.order_type, req.purpose, req.stop_loss) == ("buy", "market_on_close", "session_close", None)
    with pytest.raises(ValueError, match="a cancel is not an order request"):
        Order(symbol=0, side=1, qty=1.0, type="cancel", purpose="entry", stamp=1).to_request(
            "x", "AAA", datetime(2024, 1, 2, tzinfo=UTC)
        )
