"""Model commands: ``train``, ``evaluate``, ``predict``."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradingmodel.cli.common import (
    add_command,
    console,
    db_label,
    get_config,
    load_inputs,
    open_db,
    out,
    plural,
    working,
)
from tradingmodel.cli.errors import Interrupted, UserError
from tradingmodel.cli.options import (
    BarOptions,
    ConfigOption,
    DbOption,
    NoDbOption,
    NoReportOption,
    ReportsOption,
    bar_options,
)

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model directory written by `train --out`.")]

# (key, label, format) of the figures shown side by side
ROWS = (
    ("direction_accuracy", "direction accuracy %", "{:.2f}"),
    ("direction_accuracy_ci", "  95% interval (Wilson)", "[{:.2f}, {:.2f}]"),
    ("magnitude_correlation", "return correlation", "{:.4f}"),
    ("timing_accuracy", "reversals called %", "{:.2f}"),
    ("mae", "MAE price", "{:.5f}"),
    ("mse", "MSE price", "{:.3e}"),
    ("mae_return", "MAE return", "{:.3e}"),
    ("mse_return", "MSE return", "{:.3e}"),
)


def _fmt(fmt: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, list):
        return "n/a" if any(x is None for x in v) else fmt.format(*v)
    return fmt.format(v)


def metrics_table(m: dict, title: str) -> Table:
    """The model's figures beside the persistence and AR baselines."""
    t = Table(title=title)
    for col in ("metric", "LSTM", "persistence", "AR(20)"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for key, label, fmt in ROWS:
        t.add_row(label, _fmt(fmt, m.get(key)), _fmt(fmt, m["baseline"].get(key)), _fmt(fmt, m["ar_baseline"].get(key)))
    return t


def print_metrics(m: dict) -> None:
    """Human-readable evaluation: overall table, per-symbol accuracy, counts and notes."""
    out.print(
        metrics_table(
            m, f"split: {m['split']}  ·  {m['bars_scored']:,} bars scored, {m['direction_bars']:,} with a non-zero move"
        )
    )
    if len(m["per_symbol"]) > 1:
        for sym, s in m["per_symbol"].items():
            out.print(
                f"  {sym}: {s['split']}, {s['bars_scored']:,} bars, direction "
                f"{_fmt('{:.2f}', s['direction_accuracy'])}% "
                f"{_fmt('[{:.2f}, {:.2f}]', s['direction_accuracy_ci'])} "
                f"(persistence {_fmt('{:.2f}', s['baseline']['direction_accuracy'])}%)"
            )
    if m.get("confidence_mean") is not None:
        out.print(f"confidence: mean {m['confidence_mean']:.3f}, Brier {m['confidence_brier']:.4f}")
    for note in m.get("notes", []):
        out.print(f"[yellow]note:[/] {note}")


def check_model_out(out_dir: Path, force: bool) -> None:
    """Refuse an output path training could not write, before spending minutes on training: a file, a
    folder of other files, an existing model (unless ``force``), or a folder that cannot be created."""
    if out_dir.is_file():
        raise UserError(f"--out {out_dir}: is a file; give a folder path (the model is a folder)")
    if out_dir.is_dir():
        entries = {e.name for e in out_dir.iterdir()}
        is_model = "manifest.json" in entries or "meta.json" in entries
        if is_model and not force:
            raise UserError(
                f"--out {out_dir}: a model is already there; add --force to replace it, or choose another folder"
            )
        if entries and not is_model:
            raise UserError(f"--out {out_dir}: the folder holds other files; choose a new or empty folder")
    parent = next((a for a in out_dir.absolute().parents if a.exists()), Path("/"))
    target = out_dir if out_dir.exists() else parent
    if not target.is_dir() or not os.access(target, os.W_OK | os.X_OK):
        raise UserError(f"--out {out_dir}: cannot write there ({target} is not a writable folder)")


def _epoch_line(rec: dict) -> None:
    console.print(
        f"{rec['model']}: epoch {rec['epoch']} train loss {rec['train_loss']:.4f} val loss {rec['val_loss']:.4f}",
        highlight=False,
        soft_wrap=True,
    )


@bar_options
def _train(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output model folder (new or empty).")],
    inputs: BarOptions,
    # parameters named like a [model] key override it (docs/configuration.md lists them from here)
    num_epochs: Annotated[
        int | None, typer.Option("--epochs", help="Maximum epochs (overrides model.num_epochs).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (overrides model.seed).")] = None,
    pooled: Annotated[bool, typer.Option("--pooled", help="One model over all symbols.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a model already in --out.")] = False,
    config: ConfigOption = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar or epoch lines.")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="torch CPU threads (default: torch's choice). On a busy machine 1 can be many times faster than 2.",
        ),
    ] = None,
    reports: ReportsOption = Path("reports"),
    no_report: NoReportOption = False,
    database_url: DbOption = None,
    no_db: NoDbOption = False,
) -> None:
    """Train the LSTM (one model per symbol, or --pooled) and write checkpoints to --out; the model is
    registered in the database (``models``), so the API and the dashboard list it.

    Ctrl-C stops training: the best epoch so far is saved, the command says what was kept and exits 130.
    """
    from tradingmodel.services.modeling import TrainRequest, train_model

    app_cfg = get_config(config, model={"num_epochs": num_epochs, "seed": seed})
    check_model_out(out_dir, force)
    db = open_db(database_url, no_db)
    bars, source = load_inputs(inputs)
    # a progress bar on a terminal; one line per epoch when stderr is a log file or a pipe
    bar = not no_progress and console.is_terminal
    req = TrainRequest(
        bars,
        source,
        app_cfg,
        out_dir,
        pooled=pooled,
        progress=bar,
        on_epoch=None if no_progress or bar else _epoch_line,
        threads=threads,
        reports=None if no_report else reports,
        engine=db,
    )
    try:
        with stop_on_ctrl_c() as stop:
            trained = train_model(replace(req, should_stop=stop))
    except KeyboardInterrupt:
        raise Interrupted("stopped by Ctrl-C before the first epoch ended; nothing was saved") from None
    res = trained.result
    for sym, path in res.model_dirs.items():
        hist = res.history[sym]
        best = res.best_epoch[sym]
        val = next((h["val_loss"] for h in hist if h["epoch"] == best), float("nan"))
        out.print(f"{sym}: best epoch {best} of {len(hist)} (val loss {val:.4f}) -> {path}")
    run_dir = trained.recorded.run_dir
    if run_dir is not None:
        out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)
    if trained.recorded.model_id is not None:
        out.print(f"database: model {trained.recorded.model_id} ({db_label(db)})", highlight=False, soft_wrap=True)
    if res.interrupted:
        kept = ", ".join(f"{s} (best epoch {res.best_epoch[s]})" for s in res.model_dirs)
        left = sorted(set(bars["symbol"].unique()) - set(res.model_dirs))
        raise Interrupted(
            f"stopped by Ctrl-C; kept {kept} in {out_dir}" + (f"; not trained: {', '.join(left)}" if left else "")
        )


class _CtrlC:
    """The ``should_stop`` hook of a CLI training: true once Ctrl-C was pressed (SIGINT)."""

    def __init__(self) -> None:
        self.pressed = False

    def __call__(self) -> bool:
        return self.pressed


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[_CtrlC]:
    """While training, the first Ctrl-C asks training to stop at the next batch (keeping the best epoch);
    a second one interrupts at once. The previous SIGINT handler is restored afterwards."""
    flag = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if flag.pressed:
            raise KeyboardInterrupt
        flag.pressed = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def check_model_config(model: Path, config: Path | None) -> None:
    """With ``--config``, the model must have the architecture the file sets (see the service)."""
    from tradingmodel.services.modeling import check_model_config as check

    check(model, get_config(config) if config is not None else None, config)


@bar_options
def _evaluate(
    model: ModelOption,
    inputs: BarOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    split: Annotated[
        str,
        typer.Option(
            "--split", help="auto | test | whole (auto: the checkpoint's test part when the data is the training data)."
        ),
    ] = "auto",
    config: ConfigOption = None,
    reports: ReportsOption = Path("reports"),
    no_report: NoReportOption = False,
) -> None:
    """Score the model beside the persistence and AR baselines on the same bars."""
    from tradingmodel.services.modeling import evaluate_model

    check_model_config(model, config)
    bars, source = load_inputs(inputs)
    with working("predicting and scoring"):
        ev = evaluate_model(model, bars, source, split=split, reports=None if no_report else reports)
    if as_json:
        typer.echo(json.dumps(ev.metrics, indent=1))
    else:
        print_metrics(ev.metrics)
        if ev.recorded.run_dir is not None:
            out.print(f"report: {ev.recorded.run_dir / 'report.html'}", highlight=False, soft_wrap=True)


@bar_options
def _predict(
    model: ModelOption,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Predictions file (.csv/.parquet).")],
    inputs: BarOptions,
    config: ConfigOption = None,
) -> None:
    """Write symbol, timestamp, predicted_close, confidence for every bar with a full window, and beside the
    file ``<out>.model.json``: the model's identity and training period (for the backtest's in-sample check)."""
    from tradingmodel.services.modeling import predict_to_file

    check_model_config(model, config)
    bars = load_inputs(inputs)[0]
    with working("predicting"):
        p = predict_to_file(model, bars, out_path)
    out.print(
        f"wrote {len(p.predictions):,} predictions ({plural(p.predictions['symbol'].nunique(), 'symbol')}) to "
        f"{out_path} (model record: {p.record.name})",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the model commands to the main app."""
    add_command(app, "train", _train)
    add_command(app, "evaluate", _evaluate)
    add_command(app, "predict", _predict)
