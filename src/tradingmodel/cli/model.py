"""Model commands: ``train``, ``evaluate``, ``predict``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradingmodel.cli.common import (
    ConfigOption,
    DataOption,
    FromOption,
    NoReportOption,
    ReportsOption,
    SymbolsOption,
    TimeframeOption,
    ToOption,
    UserError,
    add_command,
    console,
    get_config,
    load_bars,
    out,
    plural,
    working,
)
from tradingmodel.cli.errors import Interrupted

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
    """Refuse an output path that training could not write, before spending minutes on training: a file, a
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


def _train(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output model folder (new or empty).")],
    data: DataOption = None,
    symbols: SymbolsOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = "1m",
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
) -> None:
    """Train the LSTM (one model per symbol, or --pooled) and write checkpoints to --out.

    Ctrl-C stops training: the best epoch so far is saved, the command says what was kept and exits 130.
    """
    app_cfg = get_config(config, model={"num_epochs": num_epochs, "seed": seed})
    check_model_out(out_dir, force)
    bars, source = load_bars(data, symbols, start, end, timeframe)

    import torch

    from tradingmodel.model import train

    if threads:
        torch.set_num_threads(threads)
    # a progress bar on a terminal; one line per epoch when stderr is a log file or a pipe
    bar = not no_progress and console.is_terminal
    try:
        res = train(
            bars,
            app_cfg.model,
            out_dir,
            pooled=pooled,
            progress=bar,
            on_epoch=None if no_progress or bar else _epoch_line,
        )
    except KeyboardInterrupt:
        raise Interrupted("stopped by Ctrl-C before the first epoch ended; nothing was saved") from None
    for sym, path in res.model_dirs.items():
        hist = res.history[sym]
        best = res.best_epoch[sym]
        val = next((h["val_loss"] for h in hist if h["epoch"] == best), float("nan"))
        out.print(f"{sym}: best epoch {best} of {len(hist)} (val loss {val:.4f}) -> {path}")
    if not no_report:
        from tradingmodel.report import provenance, save_run

        run_dir = save_run(
            "train",
            root=reports,
            config=app_cfg,
            history=res.history,
            provenance=provenance(bars, source=source, model_dir=str(out_dir), pooled=pooled),
        )
        out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)
    if res.interrupted:
        kept = ", ".join(f"{s} (best epoch {res.best_epoch[s]})" for s in res.model_dirs)
        left = sorted(set(bars["symbol"].unique()) - set(res.model_dirs))
        raise Interrupted(
            f"stopped by Ctrl-C; kept {kept} in {out_dir}" + (f"; not trained: {', '.join(left)}" if left else "")
        )


def check_model_config(model: Path, config: Path | None) -> None:
    """With ``--config``, the model must have been trained with the architecture the file sets
    (``sequence_length``, ``hidden_size``, ``num_layers``): evaluating another model by mistake is refused.
    Every other setting of a trained model comes from its checkpoint."""
    if config is None:
        return
    from tradingmodel.model.checkpoint import ARCH_KEYS, load_checkpoint, resolve_model_dir

    cfg = get_config(config).model
    keys = [k for k in ARCH_KEYS if k in cfg.model_fields_set]
    for d in dict.fromkeys(resolve_model_dir(model).values()):
        stored = load_checkpoint(d).config
        diff = [
            f"{k} {getattr(stored, k)} (the config says {getattr(cfg, k)})"
            for k in keys
            if getattr(stored, k) != getattr(cfg, k)
        ]
        if diff:
            raise UserError(f"{d}: this model was trained with {', '.join(diff)}, not with {config}")


def _evaluate(
    model: ModelOption,
    data: DataOption = None,
    symbols: SymbolsOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = "1m",
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
    from tradingmodel.model import evaluate

    check_model_config(model, config)
    bars, source = load_bars(data, symbols, start, end, timeframe)
    with working("predicting and scoring"):
        m, frame = evaluate(model, bars, split=split, return_frame=True)
    run_dir = None
    if not no_report:
        from tradingmodel.report import provenance, save_run

        cols = ["symbol", "timestamp", "predicted_close", "confidence", "close", "next_close", "split"]
        run_dir = save_run(
            "evaluate",
            root=reports,
            config=None,
            model_metrics=m,
            bars=bars,
            predictions=frame.loc[frame["scored"], cols],
            provenance=provenance(bars, source=source, model_dir=str(model), split=split),
        )
    if as_json:
        typer.echo(json.dumps(m, indent=1))
    else:
        print_metrics(m)
        if run_dir is not None:
            out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)


def _predict(
    model: ModelOption,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Predictions file (.csv/.parquet).")],
    data: DataOption = None,
    symbols: SymbolsOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = "1m",
    config: ConfigOption = None,
) -> None:
    """Write symbol, timestamp, predicted_close, confidence for every bar with a full window, and beside the
    file ``<out>.model.json``: the model's identity and training period (for the backtest's in-sample check)."""
    from tradingmodel.data.bars import write_frame
    from tradingmodel.model import predict
    from tradingmodel.model.predict import prediction_origin, write_origin

    check_model_config(model, config)
    bars = load_bars(data, symbols, start, end, timeframe)[0]
    with working("predicting"):
        preds = predict(model, bars)
    write_frame(preds, out_path)
    # the model's identity and training range, so that a backtest of the file can tell in-sample bars
    record = write_origin(out_path, prediction_origin(model, bars))
    out.print(
        f"wrote {len(preds):,} predictions ({plural(preds['symbol'].nunique(), 'symbol')}) to {out_path} "
        f"(model record: {record.name})",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the model commands to the main app."""
    add_command(app, "train", _train)
    add_command(app, "evaluate", _evaluate)
    add_command(app, "predict", _predict)
