"""Live engine speed: bar → orders latency, replay throughput, per-slice commit cost.

Run: ``.venv/bin/python benchmarks/live.py [--quick] [--pg URL]``. One line per figure:
``<figure>: <value> <unit> = <ratio>x <reference>``, the reference measured in the same run.

* latency: a slice's bars arrive → streaming features + one batched model call + the strategy step → the
  orders exist (what the engine hands the executor), p50/p99 over many minutes, for 1 and 100 symbols; the
  reference is the same path with ``model.predict`` per symbol on its last ``sequence_length + 40`` bars;
* replay: ``paper --source replay --speed 0`` (the whole session: executor, store, events) in bars/s beside
  ``run_backtest`` on the same bars and predictions;
* commit: one slice's transaction (fills, decision, predictions, snapshot, events) on SQLite and PostgreSQL,
  beside an empty transaction on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tradingmodel.backtest import run_backtest
from tradingmodel.config import AppConfig, ModelConfig, TradingConfig
from tradingmodel.data import simulate
from tradingmodel.live.predictor import Predictor
from tradingmodel.live.session import run_session
from tradingmodel.live.sources import ReplaySource
from tradingmodel.live.strategy import LiveStrategy
from tradingmodel.model import predict, train
from tradingmodel.store import get_engine
from tradingmodel.store.sessions import EventRow, SessionStore, SliceWrite, open_session
from tradingmodel.strategy import layout as L

# small enough to train in seconds on a shared 2-core machine; the network size is printed with the figures
CFG = ModelConfig(sequence_length=30, hidden_size=32, num_layers=1, num_epochs=1, patience=1, seed=1)


def _pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a) * 1e3, q))


def latency(model_dir: Path, bars: pd.DataFrame, symbols: list[str], minutes: int) -> tuple[list[float], list[float]]:
    """(engine path, model.predict path) seconds per slice."""
    pred = Predictor(model_dir, symbols)
    strat = LiveStrategy.new(symbols, TradingConfig(buy_threshold=0.0, sell_threshold=0.0))
    times = sorted(bars["timestamp"].unique())
    warm, live = times[:-minutes], times[-minutes:]
    hist = bars[bars["timestamp"].isin(warm)]
    for s, g in hist.groupby("symbol"):
        pred.warm_up(str(s), g["close"].to_numpy(), g["volume"].to_numpy())
    by_t = {t: g for t, g in bars[bars["timestamp"].isin(live)].groupby("timestamp")}
    fast, slow = [], []
    n = len(symbols)
    for t in live:
        g = by_t[t]
        t0 = time.perf_counter()
        for s, c, v in zip(g["symbol"], g["close"], g["volume"], strict=True):
            pred.update(s, c, v)
        p = pred.predict(list(g["symbol"]))
        mkt = np.full((n, L.NK), np.nan)
        for i, (s, o, h, lo, c, v) in enumerate(
            zip(g["symbol"], g["open"], g["high"], g["low"], g["close"], g["volume"], strict=True)
        ):
            mkt[i, :5] = o, h, lo, c, v
            mkt[i, L.K_VOLAVG], mkt[i, L.K_RSI], mkt[i, L.K_RETSTD] = pred.strategy_features(s)
            mkt[i, L.K_PRED] = p[s].predicted_close if s in p else np.nan
        strat.step(mkt, 0)
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        window = bars[(bars["timestamp"] <= t)].groupby("symbol").tail(CFG.sequence_length + 40)
        for s in symbols:
            predict(model_dir, window[window["symbol"] == s])
        slow.append(time.perf_counter() - t0)
    return fast, slow


def commit_cost(url: str, n: int) -> tuple[float, float]:
    """Median seconds of one slice commit and of an empty write transaction."""
    from tradingmodel.store.ingest import write_transaction

    engine = get_engine(url)
    info = open_session(engine, f"bench-{time.time_ns()}", symbols=["A"], config_toml="")
    store = SessionStore(engine, info.run_id)
    snap = LiveStrategy.new(["A"] * 1, TradingConfig()).snapshot()
    t_slice, t_empty = [], []
    for k in range(n):
        T = pd.Timestamp("2024-02-05 14:30", tz="UTC") + pd.Timedelta(minutes=k)
        ev = [
            EventRow("bar", {"close": 1.0}, "A", T),
            EventRow("prediction", {"predicted_close": 1.0}, "A", T),
            EventRow("signal", {"signal": "none"}, "A", T),
            EventRow("portfolio", {"equity": 1.0}, None, T),
        ]
        t0 = time.perf_counter()
        store.commit_slice(SliceWrite(T.to_pydatetime(), snap, 1, events=ev))
        t_slice.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with write_transaction(engine):
            pass
        t_empty.append(time.perf_counter() - t0)
    return float(np.median(t_slice)), float(np.median(t_empty))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/tradingmodel_bench_live")
    args = ap.parse_args()
    torch.set_num_threads(1)
    minutes = 30 if args.quick else 200
    syms = [f"S{i:03d}" for i in range(100)]
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        bars = simulate(syms, 3, seed=5, signal=1.0)
        print(f"# model: LSTM {CFG.num_layers}x{CFG.hidden_size}, window {CFG.sequence_length} bars; torch 1 thread")
        train(bars[bars["symbol"].isin(syms[:2])], CFG, tmpd / "m", pooled=True, progress=False)
        one = bars[bars["symbol"] == syms[0]]
        fast, slow = latency(tmpd / "m", one, [syms[0]], minutes)
        print(
            f"bar->orders p50, 1 symbol: {_pct(fast, 50):.3f} ms = {_pct(slow, 50) / _pct(fast, 50):.1f}x "
            f"faster than model.predict per symbol ({_pct(slow, 50):.3f} ms)"
        )
        print(
            f"bar->orders p99, 1 symbol: {_pct(fast, 99):.3f} ms = {_pct(slow, 99) / _pct(fast, 99):.1f}x "
            f"faster than model.predict per symbol ({_pct(slow, 99):.3f} ms)"
        )
        # 100 symbols: a model that knows all of them (one pooled checkpoint trained on one step of data)
        train(bars, CFG, tmpd / "m100", pooled=True, progress=False)
        fast, slow = latency(tmpd / "m100", bars, syms, max(5, minutes // 20))
        print(
            f"bar->orders p50, 100 symbols: {_pct(fast, 50):.3f} ms = {_pct(slow, 50) / _pct(fast, 50):.1f}x "
            f"faster than model.predict per symbol ({_pct(slow, 50):.3f} ms)"
        )
        print(
            f"bar->orders p99, 100 symbols: {_pct(fast, 99):.3f} ms = {_pct(slow, 99) / _pct(fast, 99):.1f}x "
            f"faster than model.predict per symbol ({_pct(slow, 99):.3f} ms)"
        )
        # replay throughput
        rb = bars[bars["symbol"].isin(syms[:2])]
        rb = rb[rb["timestamp"] < rb["timestamp"].min() + pd.Timedelta(minutes=60 if args.quick else 390)]
        cfg = AppConfig(trading=TradingConfig(buy_threshold=0.02, sell_threshold=0.02))
        t0 = time.perf_counter()
        asyncio.run(
            run_session(
                name="bench",
                symbols=syms[:2],
                model_dir=tmpd / "m",
                source=ReplaySource(rb),
                config=cfg,
                database_url=f"sqlite:///{tmpd}/r.db",
                broker_dir=tmpd / "b",
                handle_signals=False,
            )
        )
        t_live = time.perf_counter() - t0
        preds = predict(tmpd / "m", rb)
        t0 = time.perf_counter()
        run_backtest(rb, preds, cfg.trading)
        t_bt = time.perf_counter() - t0
        print(
            f"replay --speed 0 (2 symbols, SQLite): {len(rb) / t_live:,.0f} bars/s = "
            f"{t_live / t_bt:.0f}x slower than run_backtest ({len(rb) / t_bt:,.0f} bars/s)"
        )
        n = 20 if args.quick else 200
        for label, url in (("SQLite", f"sqlite:///{tmpd}/c.db"), ("PostgreSQL", args.pg)):
            try:
                c, e = commit_cost(url, n)
            except Exception as exc:  # noqa: BLE001 - a missing server is reported, not hidden
                print(f"slice commit, {label}: not measured ({type(exc).__name__}: {exc})")
                continue
            print(
                f"slice commit, {label}: {c * 1e3:.2f} ms = {c / e:.1f}x an empty write transaction ({e * 1e3:.2f} ms)"
            )


if __name__ == "__main__":
    main()
