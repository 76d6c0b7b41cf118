"""``tradingmodel demo`` (what ``make demo`` runs): simulate → train → evaluate → backtest → report.

The pipeline is the plain function :func:`run_demo`, returning every object it made; the command prints
the model's figures beside the baselines, the trading figures in % and $, and the report's path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from tradingmodel.cli.common import ConfigOption, add_command, get_config, out
from tradingmodel.config import AppConfig, ModelConfig, TradingConfig

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
    cfg = get_config(config, model=None if full else DEMO_MODEL)
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
    from tradingmodel.pipeline import backtest_model
    from tradingmodel.report import provenance, save_run

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
        run_dir = save_run(
            "demo",
            root=out,
            config=cfg,
            provenance=provenance(
                bars, source="simulator", seed=seed, days=days, signal=signal, model_dir=str(model_dir)
            ),
            model_metrics=mb.model_metrics,
            trading_metrics=bt.metrics,
            trades=bt.trades,
            equity=bt.equity,
            bars=mb.bars,
            history=res.history,
            predictions=mb.frame[
                ["symbol", "timestamp", "predicted_close", "confidence", "close", "next_close", "split"]
            ],
        )
        timings["report_s"] = time.perf_counter() - t0
    return DemoResult(
        cfg, bars, model_dir, res, mb.frame, mb.model_metrics, mb.result, mb.baseline_result, run_dir, timings
    )


def _demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the model and the run folder.")] = Path(
        "reports"
    ),
    days: Annotated[int, typer.Option("--days", min=2, help="Simulated sessions of 390 minute bars.")] = DEMO_DAYS,
    signal: Annotated[
        float, typer.Option("--signal", min=0.0, max=1.0, help="Planted mean-reversion strength, 0..1.")
    ] = DEMO_SIGNAL,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.")] = 7,
    full: Annotated[bool, typer.Option("--full", help="Use the config's full-size network (slow on CPU).")] = False,
    config: ConfigOption = None,
) -> None:
    """Simulate, train, evaluate and backtest on the unseen test part; print figures beside baselines."""
    from tradingmodel.cli.backtest import print_summary
    from tradingmodel.cli.model import print_metrics

    cfg = demo_config(config, full)
    m, t = cfg.model, cfg.trading
    out.print(
        f"[bold]demo[/]: {len(DEMO_SYMBOLS)} symbols × {days} sessions of simulated minute bars, "
        f"planted signal {signal:g}, seed {seed}; model: seq {m.sequence_length}, "
        f"{m.num_layers}×{m.hidden_size} LSTM, ≤{m.num_epochs} epochs (patience {m.patience}), "
        f"batch {m.batch_size}, lr {m.learning_rate:g}, split {m.train_fraction:.0%}/{m.val_fraction:.0%}/"
        f"{1 - m.train_fraction - m.val_fraction:.0%}",
        highlight=False,
    )
    r = run_demo(out_dir, cfg=cfg, days=days, signal=signal, seed=seed)
    out.print(f"{len(r.bars):,} bars; trained in {r.timings['train_s']:.1f} s -> {r.model_dir}")
    out.print("\n[bold]Model[/] (test part, never seen in training, scaling or calibration)")
    print_metrics(r.metrics)
    out.print(
        f"\n[bold]Backtest[/] of the test part: thresholds {t.buy_threshold:g}/{t.sell_threshold:g} "
        f"{t.threshold_unit}, stop {t.stop_loss_threshold:g}, target {t.take_profit_threshold:g}, "
        f"costs ${t.commission_per_share:g}/share + {t.slippage_bps:g} bps slippage, fills at next open",
        highlight=False,
    )
    print_summary(r.backtest.metrics)
    b, mm = r.baseline_backtest.metrics, r.backtest.metrics
    win = "n/a" if b["win_rate"] is None else f"{b['win_rate']:.1f}%"
    out.print(
        f"  same strategy on the AR(20) baseline's predictions: {b['total_trades']} trades, "
        f"${b['total_profit']:,.2f} ({b['total_profit_pct']:+.2f}%), win rate {win}",
        highlight=False,
    )
    if mm["total_trades"] < 100:
        out.print(
            f"[yellow]note:[/] {mm['total_trades']} trades on {r.metrics['bars_scored']:,} simulated test bars "
            "is a small sample: the win rate and the annualised ratios above are not statistically reliable, and "
            "the planted signal makes the simulator easier than a real market.",
            highlight=False,
        )
    if r.run_dir is not None:
        out.print(f"\nreport: {r.run_dir / 'report.html'}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""
    add_command(app, "demo", _demo)
