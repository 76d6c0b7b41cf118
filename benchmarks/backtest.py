"""Backtest engine speed beside vectorbt's Portfolio.from_signals, and a trade-by-trade identity check.

Run: ``.venv/bin/python benchmarks/backtest.py [--quick]`` (vectorbt is the ``bench`` extra).

Figures (best of ``--repeat`` warm runs, interleaved; compile time excluded on both sides):

* ``engine``: our compiled loop with every rule on (sigma thresholds, RSI and volume filters, stop,
  target, holding time, session flattening, cooldown, costs, sizing, exposure caps, daily loss and
  drawdown halts) on 1M bars x 1 symbol and 100k bars x 20 symbols;
* ``vectorbt``: ``Portfolio.from_signals`` with stop loss and take profit on the same bars and the
  same entry signals (shifted one bar: our decision at t's close fills at t+1's open);
* identity: both run the shared rules only (entries at the next open, stop first, gaps at the
  open, no costs, no time exit, no flattening, limits not binding) and must give the same trades.
  vectorbt checks stops only from the bar after the entry, we check the entry bar too; to share
  the rule, vectorbt gets every bar split into an open-only row and the full bar.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from tradingmodel.backtest import run_backtest
from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import prepare
from tradingmodel.backtest.result import build_result
from tradingmodel.config import TradingConfig
from tradingmodel.data import simulate
from tradingmodel.strategy import layout as L

ALL_RULES = TradingConfig(
    threshold_unit="sigma",
    buy_threshold=1.0,
    sell_threshold=1.0,
    cooldown_bars=5,
    max_holding_bars=30,
    flatten_at_close=True,
    commission_per_share=0.005,
    slippage_bps=1.0,
    max_drawdown_limit=0.5,
)
SHARED = TradingConfig(
    threshold_unit="sigma",
    buy_threshold=1.0,
    sell_threshold=1.0,
    cooldown_bars=0,
    max_holding_bars=10**9,
    flatten_at_close=False,
    commission_per_share=0.0,
    slippage_bps=0.0,
    deposit=1e7,
    position_fraction=0.02,
    max_open_positions=1000,
    daily_loss_limit=1.0,
    max_drawdown_limit=1.0,
)


def best_of(fns: list, repeat: int) -> list[float]:
    """Best wall time of each function, runs interleaved so that load changes hit both alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


def make(n_symbols: int, n_bars: int, seed: int = 1):
    days = -(-n_bars // 390)
    bars = simulate([f"S{i:02d}" for i in range(n_symbols)], days, seed=seed)
    bars = bars.groupby("symbol", sort=False).head(n_bars).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pred = bars["close"].to_numpy() * (1 + 0.002 * rng.standard_normal(len(bars)))
    return bars, pd.DataFrame({"symbol": bars["symbol"], "timestamp": bars["timestamp"], "predicted_close": pred})


def entry_signals(mkt: np.ndarray, cfg: TradingConfig) -> tuple[np.ndarray, np.ndarray]:
    """The entry rule, vectorised on the prepared arrays (decision at each bar's close)."""
    c, pred, sd = mkt[:, :, L.K_CLOSE], mkt[:, :, L.K_PRED], mkt[:, :, L.K_RETSTD]
    rsi, vol, vavg = mkt[:, :, L.K_RSI], mkt[:, :, L.K_VOLUME], mkt[:, :, L.K_VOLAVG]
    with np.errstate(invalid="ignore"):
        ok = vol > cfg.volume_multiplier * vavg
        long = ok & (pred > c * (1 + cfg.buy_threshold * sd)) & (rsi < cfg.rsi_overbought)
        short = ok & ~long & (pred < c * (1 - cfg.sell_threshold * sd)) & (rsi > cfg.rsi_oversold)
    return long, short


def shift(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    out[1:] = a[:-1]
    return out


def vbt_run(o, h, lo, c, long_e, short_e, cfg: TradingConfig):
    import vectorbt as vbt
    from vectorbt.portfolio.enums import OppositeEntryMode

    return vbt.Portfolio.from_signals(
        close=c,
        entries=long_e,
        short_entries=short_e,
        price=o,
        open=o,
        high=h,
        low=lo,
        sl_stop=cfg.stop_loss_threshold,
        tp_stop=cfg.take_profit_threshold,
        size=10.0,
        size_type="amount",
        upon_opposite_entry=OppositeEntryMode.Ignore,
        init_cash=1e12,
        fees=0.0,
        slippage=0.0,
    )


def vbt_split_trades(
    mkt: np.ndarray, long: np.ndarray, short: np.ndarray, symbols: list[str], cfg: TradingConfig
) -> pd.DataFrame:
    """vectorbt on bars split in (open-only row, full bar) so that it checks the entry bar too."""
    n_t, n = mkt.shape[:2]
    o, h, lo, c = (mkt[:, :, k] for k in (L.K_OPEN, L.K_HIGH, L.K_LOW, L.K_CLOSE))
    rows = np.empty((2 * n_t, n, 4))
    rows[0::2] = o[:, :, None]
    rows[1::2, :, 0], rows[1::2, :, 1], rows[1::2, :, 2], rows[1::2, :, 3] = o, h, lo, c
    le = np.zeros((2 * n_t, n), dtype=bool)
    se = np.zeros((2 * n_t, n), dtype=bool)
    le[2::2], se[2::2] = long[:-1], short[:-1]  # decision at bar t's close -> open row of bar t+1
    pf = vbt_run(rows[:, :, 0], rows[:, :, 1], rows[:, :, 2], rows[:, :, 3], le, se, cfg)
    r = pf.trades.records
    r = r[r["status"] == 1]  # closed trades only
    return pd.DataFrame(
        {
            "symbol": np.asarray(symbols)[r["col"]],
            "side": np.where(r["direction"] == 0, "long", "short"),
            "entry_row": r["entry_idx"] // 2,
            "entry_price": r["entry_price"],
            "exit_row": r["exit_idx"] // 2,
            "exit_price": r["exit_price"],
        }
    )


def identity(bars: pd.DataFrame, preds: pd.DataFrame) -> tuple[int, int]:
    """(trades compared, trades identical) between our engine and vectorbt on the shared rules."""
    prep = prepare(bars, preds)
    state, curve = run_prepared(prep, SHARED)
    ours = build_result(prep, state, curve, SHARED).trades
    ours = ours[ours["exit_reason"] != "end"]
    pos = {t: i for i, t in enumerate(prep.times)}
    ours = pd.DataFrame(
        {
            "symbol": ours["symbol"],
            "side": ours["side"],
            "entry_row": ours["entry_time"].map(pos),
            "entry_price": ours["entry_price"],
            "exit_row": ours["exit_time"].map(pos),
            "exit_price": ours["exit_price"],
        }
    )
    long, short = entry_signals(prep.mkt, SHARED)
    theirs = vbt_split_trades(prep.mkt, long, short, prep.symbols, SHARED)
    key = ["symbol", "entry_row"]
    a = ours.sort_values(key).reset_index(drop=True)
    b = theirs.sort_values(key).reset_index(drop=True)
    if len(a) != len(b):
        return max(len(a), len(b)), 0
    same = (
        (
            a[["symbol", "side", "entry_row", "exit_row"]].to_numpy()
            == b[["symbol", "side", "entry_row", "exit_row"]].to_numpy()
        ).all(axis=1)
        & np.isclose(a["entry_price"], b["entry_price"], rtol=1e-12, atol=0)
        & np.isclose(a["exit_price"], b["exit_price"], rtol=1e-12, atol=0)
    )
    return len(a), int(same.sum())


def case(label: str, n_symbols: int, n_bars: int, repeat: int) -> None:
    bars, preds = make(n_symbols, n_bars)
    n = len(bars)
    t = time.perf_counter()
    prep = prepare(bars, preds)
    t_prep = time.perf_counter() - t
    long, short = entry_signals(prep.mkt, ALL_RULES)
    o, h, lo, c = (prep.mkt[:, :, k] for k in (L.K_OPEN, L.K_HIGH, L.K_LOW, L.K_CLOSE))
    le, se = shift(long), shift(short)
    run_prepared(prep, ALL_RULES)  # compile or load from cache
    vbt_run(o, h, lo, c, le, se, ALL_RULES)  # compile
    ours, theirs = best_of(
        [lambda: run_prepared(prep, ALL_RULES), lambda: vbt_run(o, h, lo, c, le, se, ALL_RULES)], repeat
    )
    print(
        f"engine bars/s, all rules, {label}: {n / ours / 1e6:.1f} M bars/s = {theirs / ours:.2f}x "
        f"vectorbt from_signals sl+tp ({n / theirs / 1e6:.1f} M bars/s)"
    )
    print(
        f"engine time, all rules, {label}: {ours * 1e3:.0f} ms = {theirs / ours:.2f}x vectorbt ({theirs * 1e3:.0f} ms)"
    )
    print(f"prepare (checks, features, alignment), {label}: {t_prep:.2f} s = {t_prep / ours:.0f}x engine loop")
    t = time.perf_counter()
    run_backtest(bars, preds, ALL_RULES)
    t_all = time.perf_counter() - t
    print(
        f"run_backtest end to end (checks, features, loop, frames, metrics), {label}: {n / t_all / 1e6:.2f} "
        f"M bars/s = {theirs / t_all:.2f}x vectorbt from_signals alone"
    )
    compared, same = identity(bars, preds)
    print(
        f"identical trades on shared rules, {label}: {same} trades = {same / max(compared, 1):.3f}x "
        f"trades compared ({compared})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10x fewer bars (smoke test)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    case("1M bars x 1 symbol" if scale == 1 else "100k bars x 1 symbol", 1, 1_000_000 // scale, args.repeat)
    case("100k bars x 20 symbols" if scale == 1 else "10k bars x 20 symbols", 20, 100_000 // scale, args.repeat)


if __name__ == "__main__":
    main()
