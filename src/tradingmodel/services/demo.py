"""The demo (``tradingmodel demo``, ``make demo``): simulate → train → evaluate → backtest → run folder.

Bars are simulated with a planted signal, one small model per symbol is trained, evaluated and backtested
on the unseen test part beside the AR(20) baseline; the result holds every object made, with timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradingmodel.config import AppConfig, ModelConfig, TradingConfig, load_config
from tradingmodel.data.columns import SCORED_PREDICTION_COLUMNS
from tradingmodel.report.runs import RunOutputs
from tradingmodel.services.records import record_run

DEMO_SYMBOLS = ("AAA", "BBB", "CCC")
DEMO_DAYS = 20
DEMO_SIGNAL = 1.0
# Narrower and shorter-trained than the production defaults (2x128, 50 epochs) so the demo trains in well
# under a minute on 2 CPU cores; sequence length, depth and batch size are the production ones.
DEMO_MODEL = {
    "sequence_length": 60,
    "hidden_size": 32,
    "num_layers": 2,
    "num_epochs": 6,
    "patience": 3,
    "learning_rate": 2e-3,
}
# Thresholds in units of recent volatility: a 1.5% predicted move in one minute (the seed's percent
# default) essentially never happens, so the percent defaults would trade nothing on minute bars.
DEMO_TRADING = {"threshold_unit": "sigma", "buy_threshold": 0.5, "sell_threshold": 0.5}
# One torch thread: measured on the shared 2-core machine (load ~5), the demo trained in 9.8 s with one
# thread and 157.6 s with two (OpenMP threads wait on each other when the cores are busy); same results.
DEMO_THREADS = 1


@dataclass
class DemoResult:
    """Everything the demo produced."""

    config: AppConfig
    bars: pd.DataFrame
    model_dir: Path
    train_result: Any
    predictions: pd.DataFrame  # evaluate's per-bar frame (with split and scored columns)
    metrics: dict
    backtest: Any  # tradingmodel.backtest.BacktestResult on the test part
    baseline_backtest: Any  # the same strategy trading the AR(20) baseline's predictions
    run_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)


def demo_config(config: Path | None = None, full: bool = False) -> AppConfig:
    """The demo's config: the file / defaults, with the small demo network unless ``full``, and the demo's
    volatility-scaled thresholds unless the file sets its own ``[trading]`` values."""
    cfg = load_config(config, {"model": {} if full else DEMO_MODEL, "trading": {}})
    if "threshold_unit" not in cfg.trading.model_fields_set:
        cfg = cfg.model_copy(update={"trading": cfg.trading.model_copy(update=DEMO_TRADING)})
    return cfg


def run_demo(
    out_dir: str | Path = "reports",
    *,
    cfg: AppConfig | None = None,
    symbols: tuple[str, ...] = DEMO_SYMBOLS,
    days: int = DEMO_DAYS,
    signal: float = DEMO_SIGNAL,
    seed: int = 7,
    progress: bool = True,
    threads: int | None = DEMO_THREADS,
    report: bool = True,
) -> DemoResult:
    """Simulate bars with a planted signal, train one model per symbol, evaluate and backtest on the unseen
    test part, and write a run folder with its report under ``out_dir``."""
    import torch

    from tradingmodel.data import simulate

    if threads:
        torch.set_num_threads(threads)
    from tradingmodel.model import train
    from tradingmodel.report import provenance
    from tradingmodel.services.backtesting import backtest_model

    cfg = cfg or AppConfig(model=ModelConfig(**DEMO_MODEL), trading=TradingConfig(**DEMO_TRADING))
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bars = simulate(list(symbols), days, seed=seed, signal=signal)
    timings["simulate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model_dir = out / "demo-model"
    res = train(bars, cfg.model, model_dir, progress=progress)
    timings["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mb = backtest_model(model_dir, bars, cfg.trading, baseline=True)
    timings["evaluate_backtest_s"] = time.perf_counter() - t0
    run_dir = None
    if report:
        t0 = time.perf_counter()
        bt = mb.result
        run_dir = record_run(
            "demo",
            config=cfg,
            provenance=provenance(
                bars, source="simulator", seed=seed, days=days, signal=signal, model_dir=str(model_dir)
            ),
            outputs=RunOutputs(
                model_metrics=mb.model_metrics,
                trading_metrics=bt.metrics,
                trades=bt.trades,
                equity=bt.equity,
                bars=mb.bars,
                history=res.history,
                predictions=mb.frame[list(SCORED_PREDICTION_COLUMNS)],
            ),
            reports=out,
        ).run_dir
        timings["report_s"] = time.perf_counter() - t0
    return DemoResult(
        cfg, bars, model_dir, res, mb.frame, mb.model_metrics, mb.result, mb.baseline_result, run_dir, timings
    )
