"""``tradingmodel demo`` (what ``make demo`` runs): simulate -> train -> evaluate -> predict, in minutes on a CPU.

The pipeline is the plain function :func:`run_demo` returning every object it made, so later stages
(backtest, report) can be appended without touching the steps before them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from tradingmodel.cli.common import ConfigOption, friendly_errors, get_config, out
from tradingmodel.config import AppConfig, ModelConfig

DEMO_SYMBOLS = ("AAA", "BBB", "CCC")
DEMO_DAYS = 20
DEMO_SIGNAL = 1.0
# Narrower and shorter-trained than the production defaults (2x128, 50 epochs) so the demo trains in well
# under a minute on 2 CPU cores; sequence length, depth and batch size are the production ones.
DEMO_MODEL = {"sequence_length": 60, "hidden_size": 32, "num_layers": 2, "num_epochs": 6, "patience": 3,
              "learning_rate": 2e-3}
# One torch thread: measured on the shared 2-core machine (load ~5), the demo trained in 9.8 s with one
# thread and 157.6 s with two (OpenMP threads wait on each other when the cores are busy); same results.
DEMO_THREADS = 1


@dataclass
class DemoResult:
    """Everything the demo produced (extend with backtest / report results)."""

    config: AppConfig
    bars: pd.DataFrame
    model_dir: Path
    train_result: Any
    predictions: pd.DataFrame
    metrics: dict
    timings: dict[str, float] = field(default_factory=dict)


def demo_config(config: Path | None = None, full: bool = False) -> AppConfig:
    """The demo's config: the file / defaults, with the small demo network unless ``full``."""
    return get_config(config, model=None if full else DEMO_MODEL)


def run_demo(out_dir: str | Path = "reports/demo", *, cfg: AppConfig | None = None,
             symbols: tuple[str, ...] = DEMO_SYMBOLS, days: int = DEMO_DAYS, signal: float = DEMO_SIGNAL,
             seed: int = 7, progress: bool = True, threads: int | None = DEMO_THREADS) -> DemoResult:
    """Simulate bars with a planted signal, train one model per symbol, evaluate on the test part, predict."""
    import torch

    from tradingmodel.data import simulate

    if threads:
        torch.set_num_threads(threads)
    from tradingmodel.model import evaluate, predict, train

    cfg = cfg or AppConfig(model=ModelConfig(**DEMO_MODEL))
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bars = simulate(list(symbols), days, seed=seed, signal=signal)
    timings["simulate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = train(bars, cfg.model, out / "model", progress=progress)
    timings["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = evaluate(out / "model", bars)
    preds = predict(out / "model", bars)
    timings["evaluate_predict_s"] = time.perf_counter() - t0
    return DemoResult(cfg, bars, out / "model", res, preds, metrics, timings)  # type: ignore[arg-type]


def _demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where the demo writes its model.")] = Path(
        "reports/demo"),
    days: Annotated[int, typer.Option("--days", help="Simulated sessions of 390 minute bars.")] = DEMO_DAYS,
    signal: Annotated[float, typer.Option("--signal", help="Planted mean-reversion strength, 0..1.")] = DEMO_SIGNAL,
    full: Annotated[bool, typer.Option("--full", help="Use the config's full-size network (slow on CPU).")] = False,
    config: ConfigOption = None,
) -> None:
    """Simulate, train, evaluate and print the model's figures beside the baselines."""
    from tradingmodel.cli.model import print_metrics

    cfg = demo_config(config, full)
    m = cfg.model
    out.print(f"[bold]demo[/]: {len(DEMO_SYMBOLS)} symbols × {days} sessions of simulated minute bars, "
              f"planted signal {signal:g}; model: seq {m.sequence_length}, {m.num_layers}×{m.hidden_size} LSTM, "
              f"≤{m.num_epochs} epochs (patience {m.patience}), batch {m.batch_size}, lr {m.learning_rate:g}, "
              f"split {m.train_fraction:.0%}/{m.val_fraction:.0%}/{1 - m.train_fraction - m.val_fraction:.0%}")
    r = run_demo(out_dir, cfg=cfg, days=days, signal=signal)
    out.print(f"{len(r.bars):,} bars; trained in {r.timings['train_s']:.1f} s -> {r.model_dir}")
    print_metrics(r.metrics)
    out.print(f"{len(r.predictions):,} predictions (symbol, timestamp, predicted_close, confidence)")


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""
    app.command("demo")(friendly_errors(_demo))
