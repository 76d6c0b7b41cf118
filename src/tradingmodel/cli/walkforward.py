"""``tradingmodel walkforward``: retrain on a rolling calendar window, trade the next unseen period, repeat."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from tradingmodel.cli import options
from tradingmodel.cli.common import console, friendly_errors, get_config, load_inputs, open_db, out
from tradingmodel.cli.model import _fmt, metrics_table

Days = Annotated[float, typer.Option(min=0.0)]


def fold_table(summary: dict) -> Table:
    """One row per fold: the model beside its baselines, and both strategies' trading in % and $."""
    t = Table(title="walk-forward folds (test periods unseen by their models)")
    for col in (
        "fold",
        "test period",
        "bars",
        "LSTM dir %",
        "persistence",
        "AR(20)",
        "LSTM trading",
        "AR(20) trading",
        "buy & hold",
        "beats nothing",
    ):
        t.add_column(col, justify="left" if col in ("fold", "test period") else "right")
    for f in summary["folds"]:
        m = f["model"]
        tr, ar = f.get("trading") or {}, f.get("ar_trading") or {}

        def money(d: dict) -> str:
            return f"{d['total_return_pct']:+.2f}% (${d['total_profit']:+,.0f})" if d else "n/a"

        t.add_row(
            str(f["fold"]) + (" partial" if f["partial"] else ""),
            f"{f['test_start'][:16]} → {f['test_end'][:16]}",
            f"{m['bars_scored']:,}",
            _fmt("{:.2f}", m["direction_accuracy"]),
            _fmt("{:.2f}", m["baseline"]["direction_accuracy"]),
            _fmt("{:.2f}", m["ar_baseline"]["direction_accuracy"]),
            money(tr),
            money(ar),
            _fmt("{:+.2f}%", tr.get("buy_and_hold_return_pct")),
            "yes" if (f.get("tests") or {}).get("beats_doing_nothing") else "no",
        )
    return t


@options.bar_options
def _walkforward(
    train_days: Annotated[float, typer.Option("--train-days", help="Calendar days of training per fold.")],
    test_days: Annotated[float, typer.Option("--test-days", help="Calendar days traded per fold.")],
    inputs: options.BarOptions,
    step_days: Annotated[
        float | None, typer.Option("--step-days", help="Days between folds (default: --test-days; never shorter).")
    ] = None,
    val_days: Annotated[
        float | None, typer.Option("--val-days", help="Validation days before each test period (default: --test-days).")
    ] = None,
    pooled: Annotated[bool, typer.Option("--pooled", help="One model per fold over all symbols.")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Maximum epochs (model.num_epochs).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (model.seed).")] = None,
    executor: Annotated[
        Literal["serial", "process", "ray"],
        typer.Option("--executor", help="serial | process (a pool over the cores) | ray."),
    ] = "process",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes / local Ray CPUs (default: the cores).")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to join (default: start a local instance on 127.0.0.1)."),
    ] = None,
    threads: Annotated[int, typer.Option("--threads", min=1, help="torch threads per task.")] = 1,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            min=1,
            help="Configurations tried in all, for the deflated Sharpe (default: this run's 2 strategies).",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Checkpoints and finished tasks (a rerun skips these).")
    ] = Path("models/walkforward"),
    buy_threshold: options.BuyThresholdOption = None,
    sell_threshold: options.SellThresholdOption = None,
    threshold_unit: Annotated[str | None, typer.Option(help="'percent' of price or 'sigma'.")] = None,
    config: options.ConfigOption = None,
    database_url: options.DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    reports: options.ReportsOption = Path("reports"),
    no_report: options.NoReportOption = False,
) -> None:
    """Walk-forward evaluation over calendar folds shared by every symbol, with significance tests."""
    from tradingmodel.walkforward import WalkForwardSpec, make_executor, run_walkforward

    app_cfg = get_config(
        config,
        model={"num_epochs": epochs, "seed": seed},
        trading={"buy_threshold": buy_threshold, "sell_threshold": sell_threshold, "threshold_unit": threshold_unit},
    )
    from tradingmodel.walkforward.record import record_walkforward, run_name

    db = open_db(database_url)  # a bad URL or an old schema fails now, not after the training
    bars, source = load_inputs(inputs)
    spec = WalkForwardSpec(train_days, test_days, step_days, val_days, pooled, threads, trials)
    with make_executor(executor, workers=workers, address=ray_address) as ex:
        res = run_walkforward(
            bars,
            spec,
            app_cfg,
            executor=ex,
            out_dir=out_dir,
            log=lambda m: console.print(m, highlight=False, soft_wrap=True),
        )
    s = res.summary
    from tradingmodel.report import provenance
    from tradingmodel.report.runs import RunOutputs
    from tradingmodel.services.records import record_run

    cols = ["symbol", "timestamp", "predicted_close", "confidence", "close", "next_close", "fold"]
    run_dir = record_run(
        "walkforward",
        config=app_cfg,
        provenance=provenance(bars, source=source, model_dir=str(out_dir), executor=executor, pooled=pooled),
        outputs=RunOutputs(
            model_metrics=s["pooled"],
            trading_metrics=(s["stitched"] or {}).get("model"),
            trades=res.trades,
            equity=res.equity,
            bars=res.traded_bars,
            predictions=res.predictions[cols],
            history=res.history,
            extra={"walkforward": {k: v for k, v in s.items() if k != "pooled"}},
        ),
        reports=None if no_report else reports,
    ).run_dir
    if as_json:
        typer.echo(json.dumps(s, indent=1, default=str))
    else:
        out.print(fold_table(s))
        out.print(
            metrics_table(
                s["pooled"], f"pooled over {len(s['folds'])} folds · {s['pooled']['bars_scored']:,} test bars"
            )
        )
        for line in [f["words"] for f in s["folds"]] + s["words"]:
            out.print(line, highlight=False, soft_wrap=True)
        if run_dir is not None:
            out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)
    params = {
        "executor": executor,
        "workers": workers,
        "ray_address": ray_address,
        "seed": app_cfg.model.seed,
        "epochs": app_cfg.model.num_epochs,
        "out": str(out_dir),
        "run_folder": str(run_dir) if run_dir is not None else None,
    }
    # after the figures are out: a database that fails now loses nothing (the run folder and the task
    # store are written; a rerun skips every task)
    run_id = record_walkforward(db, s, bars, app_cfg, params, name=run_name(s, run_dir), source=source)
    console.print(f"database: run {run_id} ({db.url.render_as_string(hide_password=True)})", highlight=False)
    if s["failures"]:
        console.print(
            f"[bold red]{len(s['failures'])} task(s) failed[/] (listed above; the others finished): "
            + "; ".join(f"fold {f['fold']} {f['symbol']}" for f in s["failures"]),
            highlight=False,
        )
        sys.exit(1)


def register(app: typer.Typer) -> None:
    """Add ``walkforward`` to the main app."""
    app.command("walkforward")(friendly_errors(_walkforward))
