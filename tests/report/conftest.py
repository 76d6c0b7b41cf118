"""Realistic run inputs for the report tests, built from the project's simulator bars.

Predictions are a noisy, slightly informed guess of the next close; trades follow a plain rule on
those predictions (enter at the next bar's open, leave after a few bars at the close) and every
metric is computed from them, so the numbers in a test run are consistent with its series.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradingmodel.config import AppConfig
from tradingmodel.data.columns import TRADE_COLUMNS

DEPOSIT = 10_000.0


def make_bars(symbols: list[str], days: int, seed: int = 3) -> pd.DataFrame:
    """One-minute bars from the data area's simulator."""
    from tradingmodel.data import simulate

    return simulate(symbols, days, seed=seed)


def make_predictions(bars: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """Row = bar t, ``predicted_close`` for bar t+1; last bar of each symbol has no prediction."""
    rng = np.random.default_rng(seed)
    parts = []
    for _, b in bars.groupby("symbol", sort=True):
        close = b["close"].to_numpy()
        nxt = np.r_[close[1:], np.nan]
        ret = nxt / close - 1
        sd = np.nanstd(ret)
        guess = 0.3 * ret + rng.normal(0, sd, len(ret))
        n = len(b)
        split = np.where(np.arange(n) < 0.7 * n, "train", np.where(np.arange(n) < 0.85 * n, "val", "test"))
        parts.append(
            pd.DataFrame(
                {
                    "symbol": b["symbol"].to_numpy(),
                    "timestamp": b["timestamp"].to_numpy(),
                    "predicted_close": close * (1 + guess),
                    "confidence": 1 / (1 + np.exp(-np.abs(guess) / sd)),
                    "close": close,
                    "next_close": nxt,
                    "split": split,
                }
            ).iloc[:-1]
        )
    return pd.concat(parts, ignore_index=True)


def make_trades(bars: pd.DataFrame, preds: pd.DataFrame, hold: int = 5, edge: float = 0.0005) -> pd.DataFrame:
    """Enter at bar t+1's open when |predicted return| > ``edge``, exit at bar t+hold's close."""
    rows = []
    for sym, b in bars.groupby("symbol", sort=True):
        p = preds[preds["symbol"] == sym]
        opens, closes, ts = b["open"].to_numpy(), b["close"].to_numpy(), b["timestamp"].to_numpy()
        pr = (p["predicted_close"] / p["close"] - 1).to_numpy()
        t = 0
        while t < len(pr) and t + hold < len(closes):
            if abs(pr[t]) > edge:
                side = "long" if pr[t] > 0 else "short"
                entry, exit_ = opens[t + 1], closes[t + hold]
                qty = math.floor(0.1 * DEPOSIT / entry)
                commission = 0.005 * qty * 2
                sign = 1 if side == "long" else -1
                pnl = sign * (exit_ - entry) * qty - commission
                rows.append(
                    (
                        sym,
                        side,
                        ts[t + 1],
                        entry,
                        ts[t + hold],
                        exit_,
                        float(qty),
                        pnl,
                        100 * sign * (exit_ / entry - 1),
                        commission,
                        "max_holding",
                    )
                )
                t += hold
            t += 1
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS)).sort_values("exit_time", kind="stable", ignore_index=True)


def make_equity(bars: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """Realised equity at each bar time, buy-and-hold = the deposit spread evenly over the symbols."""
    times = pd.Index(sorted(bars["timestamp"].unique()))
    realised = trades.groupby("exit_time")["pnl"].sum().reindex(times, fill_value=0.0).cumsum()
    wide = bars.pivot(index="timestamp", columns="symbol", values="close").reindex(times).ffill()
    bh = DEPOSIT * (wide / wide.iloc[0]).mean(axis=1)
    equity = DEPOSIT + realised.to_numpy()
    return pd.DataFrame(
        {"timestamp": times, "equity": equity, "cash": equity, "gross_exposure": 0.0, "buy_and_hold": bh.to_numpy()}
    )


def trading_metrics(trades: pd.DataFrame, equity: pd.DataFrame) -> dict[str, Any]:
    """The project's own trading metrics (``tradingmodel.metrics.trading``) of these trades."""
    from tradingmodel.metrics.trading import trading_metrics as compute

    return compute(equity, trades, DEPOSIT, bars_per_year=252 * 390)


def model_metrics(preds: pd.DataFrame) -> dict[str, Any]:
    def score(pred: np.ndarray, p: pd.DataFrame) -> dict[str, Any]:
        actual = p["next_close"].to_numpy()
        close = p["close"].to_numpy()
        hit = np.sign(pred - close) == np.sign(actual - close)
        acc = float(100 * hit.mean())
        half = 196 * math.sqrt(acc / 100 * (1 - acc / 100) / len(p))
        return {
            "direction_accuracy": acc,
            "direction_accuracy_ci": [acc - half, acc + half],
            "magnitude_correlation": float(np.corrcoef(pred - close, actual - close)[0, 1]),
            "mse": float(np.mean((pred - actual) ** 2)),
            "mae": float(np.mean(np.abs(pred - actual))),
            "mse_return": float(np.mean(((pred - actual) / close) ** 2)),
            "mae_return": float(np.mean(np.abs(pred - actual) / close)),
            "n_bars": len(p),
        }

    test = preds[preds["split"] == "test"]
    out = score(test["predicted_close"].to_numpy(), test)
    out["baseline"] = score(test["close"].to_numpy() * (1 + 1e-12), test)
    out["ar_baseline"] = {k: v for k, v in score(test["close"].to_numpy() * 0.9999, test).items() if k != "mae"}
    out["per_symbol"] = {s: score(g["predicted_close"].to_numpy(), g) for s, g in test.groupby("symbol")}
    return out


def history() -> dict[str, list[dict]]:
    return {
        "pooled": [
            {
                "epoch": e,
                "train_loss": 0.9 * 0.7**e + 0.05,
                "val_loss": 1.0 * 0.75**e + 0.07,
                "samples_per_s": 5000.0 + e,
            }
            for e in range(8)
        ]
    }


def run_inputs(symbols: list[str] | None = None, days: int = 3) -> dict[str, Any]:
    """Keyword arguments for ``write_run_folder`` describing a complete backtest of simulated bars."""
    symbols = symbols or ["AAPL", "MSFT"]
    bars = make_bars(symbols, days)
    preds = make_predictions(bars)
    trades = make_trades(bars, preds)
    equity = make_equity(bars, trades)
    return {
        "config": AppConfig(),
        "bars": bars,
        "predictions": preds,
        "trades": trades,
        "equity": equity,
        "model_metrics": model_metrics(preds),
        "trading_metrics": trading_metrics(trades, equity),
        "history": history(),
        "provenance": {
            "source": "simulator",
            "symbols": symbols,
            "start": str(bars["timestamp"].min()),
            "end": str(bars["timestamp"].max()),
            "seed": 3,
            "data_hash": "sha256:test",
        },
        "extra": {"note": "report test run"},
    }


@pytest.fixture(scope="session")
def inputs() -> dict[str, Any]:
    return run_inputs()


@pytest.fixture(scope="session")
def saved_run(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Any]) -> Path:
    """One complete backtest run folder shared by the read-only tests."""
    from tradingmodel.report import write_run_folder

    return write_run_folder("backtest", root=tmp_path_factory.mktemp("reports"), **inputs)


@pytest.fixture(scope="session")
def year_inputs() -> dict[str, Any]:
    """A year (252 sessions x 390 minute bars) of one symbol with predictions, trades and equity."""
    bars = make_bars(["SPY"], 252, seed=11)
    preds = make_predictions(bars)
    trades = make_trades(bars, preds, edge=0.002)
    return {"bars": bars, "predictions": preds, "trades": trades, "equity": make_equity(bars, trades)}


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of ``run_demo`` (what ``tradingmodel demo`` runs) with a tiny network.

    Low entry thresholds so that the test part trades; everything in the run folder comes from the
    project's own components: simulator -> train -> evaluate -> backtest -> write_run_folder.
    """
    from tradingmodel.config import ModelConfig, TradingConfig
    from tradingmodel.services.demo import run_demo

    cfg = AppConfig(
        model=ModelConfig(sequence_length=20, hidden_size=8, num_layers=1, num_epochs=2, patience=1, batch_size=128),
        trading=TradingConfig(buy_threshold=0.02, sell_threshold=0.02),
    )
    r = run_demo(tmp_path_factory.mktemp("reports"), cfg=cfg, symbols=("AAA", "BBB"), days=4, seed=7, progress=False)
    assert len(r.backtest.trades) > 0, "the demo run should trade, or its report has no trade markers to check"
    return r.run_dir
