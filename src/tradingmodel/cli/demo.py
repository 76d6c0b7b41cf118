"""``tradingmodel demo`` (what ``make demo`` runs): simulate → train → evaluate → backtest → report.

The pipeline is the use case :func:`tradingmodel.services.demo.run_demo`; the command prints the model's
figures beside the baselines, the trading figures in % and $, and the report's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradingmodel.cli.common import add_command, out
from tradingmodel.cli.options import ConfigOption
from tradingmodel.services.demo import DEMO_DAYS, DEMO_SIGNAL, DEMO_SYMBOLS, demo_config, run_demo


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
