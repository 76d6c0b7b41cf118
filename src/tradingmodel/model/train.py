"""Training: one model per symbol (default) or one pooled model, early stopping, clean Ctrl-C.

Reproducibility: every model is seeded with ``cfg.seed`` right before its weights are created, and the
shuffling uses its own seeded generator, so two CPU runs with the same seed, data and thread count
produce bit-identical weights.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tradingmodel.config import ModelConfig
from tradingmodel.model.baselines import fit_ar, fit_calibration
from tradingmodel.model.checkpoint import SymbolMeta, data_hash, save_checkpoint, write_manifest
from tradingmodel.model.inference import LSTMKernel
from tradingmodel.model.network import build_network, pick_device, seed_everything
from tradingmodel.model.windows import (
    N_FEATURES,
    FeatureFn,
    Scaler,
    Split,
    SymbolSeries,
    WindowSet,
    calendar_cuts,
    fit_scaler,
    symbol_series,
)

# Inference on the CPU runs the batch-independent kernel (model/inference.py): a window's bits do not depend on
# what else is in its batch, so a prediction at bar t is bit-identical whatever follows t and equals the live
# predictor's. On CUDA, torch runs chunks with fixed boundaries, each padded to a multiple of PAD_ROWS rows
# (a BLAS kernel may treat a ragged last block differently). EVAL_CHUNK bounds the memory of one batch.
EVAL_CHUNK = 2048
PAD_ROWS = 16

EpochHook = Callable[[dict], None]
StopHook = Callable[[], bool]


class _Stopped(Exception):
    """Raised inside the batch loop when the ``should_stop`` hook says so (handled like Ctrl-C)."""


@dataclass
class TrainResult:
    """Where the checkpoints went and how training went (per symbol; pooled: same entry for every symbol)."""

    model_dirs: dict[str, Path]
    history: dict[str, list[dict]]
    interrupted: bool = False
    best_epoch: dict[str, int] = field(default_factory=dict)


@dataclass
class _Prepared:
    series: SymbolSeries
    split: Split
    scaler: Scaler
    train_t: np.ndarray
    val_t: np.ndarray
    test_t: np.ndarray
    ar_coef: list[float]
    hash: str


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


def prepare_series(s: SymbolSeries, split: Split, cfg: ModelConfig, digest: str, what: str) -> _Prepared:
    """Samples of each part, the training-only scaler and AR fit; too few windows raise naming ``what``
    (the split that was asked for), the symbol and the counts."""
    L = cfg.sequence_length
    parts = {p: split.samples(p, s, L) for p in ("train", "val", "test")}
    if len(parts["train"]) < 2 or len(parts["val"]) < 1 or len(parts["test"]) < 1:
        counts = ", ".join(f"{p} {len(v)}" for p, v in parts.items())
        raise ValueError(
            f"{s.symbol}: {s.n} bars are too few for sequence_length {L} with {what}, {L}-bar purge gaps "
            f"and a {s.first_valid}-bar feature warm-up (windows: {counts}); use more bars or a shorter "
            "sequence"
        )
    scaler = fit_scaler(s, parts["train"], L)
    return _Prepared(
        s, split, scaler, parts["train"], parts["val"], parts["test"], fit_ar(s.close, parts["train"]), digest
    )


def _prepare_all(
    bars: pd.DataFrame, symbols: list[str], cfg: ModelConfig, feature_fn: FeatureFn | None
) -> dict[str, _Prepared]:
    """Every symbol split at the same two calendar times (the train/validation shares of the union time
    axis), so no symbol's training bar is later than any symbol's first validation or test bar."""
    series = {sym: symbol_series(bars, sym, feature_fn) for sym in symbols}
    train_end, val_end = calendar_cuts([s.timestamps for s in series.values()], cfg.train_fraction, cfg.val_fraction)
    what = (
        f"a {cfg.train_fraction:.0%}/{cfg.val_fraction:.0%} train/validation split at the shared times "
        f"{_iso(train_end)} and {_iso(val_end)}"
    )
    return {
        sym: prepare_series(
            s,
            Split.at_times(s.timestamps, train_end, val_end, cfg.sequence_length),
            cfg,
            data_hash(bars[bars["symbol"] == sym]),
            what,
        )
        for sym, s in series.items()
    }


def predict_standardised(
    net: torch.nn.Module, ws: WindowSet, g: np.ndarray, sym: np.ndarray, device: torch.device
) -> np.ndarray:
    """Network outputs (standardised next returns) for global sample indices ``g`` in fixed chunks.

    On the CPU through :class:`~tradingmodel.model.inference.LSTMKernel` on as many threads as torch may use
    (what ``model.predict`` and the live predictor give, bit for bit); on CUDA through torch."""
    out = np.empty(len(g), dtype=np.float64)
    net.eval()
    kernel = LSTMKernel(net) if device.type == "cpu" else None
    with torch.inference_mode():
        for i in range(0, len(g), EVAL_CHUNK):
            gi, si = g[i : i + EVAL_CHUNK], sym[i : i + EVAL_CHUNK]
            k = len(gi)
            if kernel is not None:
                xb, _ = ws.batch(torch.from_numpy(gi), torch.from_numpy(si))
                out[i : i + k] = kernel(xb.numpy(), threads=torch.get_num_threads())
                continue
            pad = -k % PAD_ROWS  # repeat the last window: same GEMM blocking, same bits for every row
            if pad:
                gi, si = np.r_[gi, np.repeat(gi[-1:], pad)], np.r_[si, np.repeat(si[-1:], pad)]
            xb, _ = ws.batch(torch.from_numpy(gi), torch.from_numpy(si))
            out[i : i + k] = net(xb.to(device)).double().cpu().numpy()[:k]
    return out


def _indices(ws: WindowSet, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    g = np.concatenate([ws.global_index(k, t) for k, t in enumerate(parts)])
    sym = np.concatenate([np.full(len(t), k, dtype=np.int64) for k, t in enumerate(parts)])
    return g, sym


def _make_progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=12),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _fit(
    name: str,
    preps: list[_Prepared],
    cfg: ModelConfig,
    device: torch.device,
    progress: Progress,
    on_epoch: EpochHook | None = None,
    should_stop: StopHook | None = None,
) -> tuple[torch.nn.Module | None, list[dict], int, bool]:
    """Train one network; returns (best net or None, history, best epoch, interrupted)."""
    L = cfg.sequence_length
    ws = WindowSet([p.series for p in preps], [p.scaler for p in preps], L)
    tr_g, tr_s = _indices(ws, [p.train_t for p in preps])
    va_g, va_s = _indices(ws, [p.val_t for p in preps])
    tr_g_t, tr_s_t = torch.from_numpy(tr_g), torch.from_numpy(tr_s)
    va_y = ws.y[torch.from_numpy(va_g)].double().numpy()

    gen = seed_everything(cfg.seed)
    net = build_network(cfg, N_FEATURES).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    loss_fn = torch.nn.MSELoss()
    n, bs = len(tr_g), cfg.batch_size
    steps = (n + bs - 1) // bs
    task = progress.add_task(name, total=cfg.num_epochs * steps, stats="")
    history: list[dict] = []
    best_loss, best_state, best_epoch, bad = float("inf"), None, 0, 0
    interrupted = False
    try:
        for epoch in range(1, cfg.num_epochs + 1):
            net.train()
            perm = torch.randperm(n, generator=gen)
            t0 = time.perf_counter()
            total = torch.zeros((), device=device, dtype=torch.float64)  # no per-step GPU sync
            for k, i in enumerate(range(0, n, bs)):
                if should_stop is not None and should_stop():
                    raise _Stopped
                idx = perm[i : i + bs]
                xb, yb = ws.batch(tr_g_t[idx], tr_s_t[idx])
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xb), yb)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                total += loss.detach().double() * len(idx)
                if k % 20 == 19:
                    progress.advance(task, 20)
            progress.advance(task, steps % 20)
            train_s = time.perf_counter() - t0
            pred = predict_standardised(net, ws, va_g, va_s, device)
            val_loss = float(np.mean((pred - va_y) ** 2))
            rec = {
                "epoch": epoch,
                "train_loss": float(total) / n,
                "val_loss": val_loss,
                "samples_per_s": n / train_s if train_s > 0 else float("nan"),
            }
            history.append(rec)
            if val_loss < best_loss:
                best_loss, best_epoch, bad = val_loss, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                bad += 1
            if on_epoch is not None:  # after the best state is kept: a Ctrl-C from here on keeps this epoch
                on_epoch({"model": name, "epochs": cfg.num_epochs, "best_epoch": best_epoch, **rec})
            progress.update(
                task,
                stats=f"epoch {epoch}/{cfg.num_epochs} loss {rec['train_loss']:.4f} "
                f"val {val_loss:.4f} (best {best_epoch}) {rec['samples_per_s']:,.0f}/s",
            )
            if bad >= cfg.patience:
                progress.update(task, completed=cfg.num_epochs * steps)
                break
    except (KeyboardInterrupt, _Stopped):
        interrupted = True
        progress.update(task, stats=f"interrupted; keeping best epoch {best_epoch or 'none'}")
    if best_state is None:
        return None, history, 0, interrupted
    net.load_state_dict(best_state)
    net.eval()
    return net, history, best_epoch, interrupted


def _calibrate(net: torch.nn.Module, preps: list[_Prepared], device: torch.device, L: int) -> list[float]:
    """Fit the confidence calibration on the validation part only."""
    ws = WindowSet([p.series for p in preps], [p.scaler for p in preps], L)
    g, sym = _indices(ws, [p.val_t for p in preps])
    z = predict_standardised(net, ws, g, sym, device)
    actual = ws.y[torch.from_numpy(g)].double().numpy()
    moved = actual != 0
    return fit_calibration(np.abs(z[moved]), (np.sign(z[moved]) == np.sign(actual[moved])).astype(float))


def _meta(p: _Prepared, calibration: list[float]) -> SymbolMeta:
    ts = p.series.timestamps
    split_ts = {
        part: [_iso(ts[lo]), _iso(ts[hi - 1])]
        for part in ("train", "val", "test")
        for lo, hi in [p.split.part_range(part)]
    }
    return SymbolMeta(p.scaler, p.hash, split_ts, p.series.n, p.ar_coef, calibration)


@dataclass
class GroupFit:
    """One trained network (None when not one epoch finished) and what :func:`save_group` stores."""

    net: torch.nn.Module | None
    history: list[dict]
    best_epoch: int
    interrupted: bool
    calibration: list[float]


def fit_group(
    name: str,
    preps: list[_Prepared],
    cfg: ModelConfig,
    device: torch.device,
    progress: Progress | None = None,
    on_epoch: EpochHook | None = None,
    should_stop: StopHook | None = None,
) -> GroupFit:
    """Train one network on the training parts of ``preps`` and calibrate it on their validation parts."""
    with _make_progress(False) if progress is None else contextlib.nullcontext(progress) as prog:
        net, hist, best_epoch, interrupted = _fit(name, preps, cfg, device, prog, on_epoch, should_stop)
    calib = _calibrate(net, preps, device, cfg.sequence_length) if net is not None else [0.0, 0.0]
    return GroupFit(net, hist, best_epoch, interrupted, calib)


def save_group(
    path: Path, fit: GroupFit, preps: dict[str, _Prepared], cfg: ModelConfig, pooled: bool, device: torch.device
) -> Path:
    """Write the checkpoint of a trained group (one directory; the manifest is the caller's, written once)."""
    assert fit.net is not None
    info = {
        "history": fit.history,
        "best_epoch": fit.best_epoch,
        "interrupted": fit.interrupted,
        "device": str(device),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_range": {s: [_iso(p.series.timestamps[0]), _iso(p.series.timestamps[-1])] for s, p in preps.items()},
    }
    return save_checkpoint(path, fit.net, cfg, {s: _meta(p, fit.calibration) for s, p in preps.items()}, pooled, info)


def train(
    bars: pd.DataFrame,
    cfg: ModelConfig,
    out_dir: str | Path,
    *,
    symbols: list[str] | None = None,
    pooled: bool = False,
    progress: bool = True,
    feature_fn: FeatureFn | None = None,
    on_epoch: EpochHook | None = None,
    should_stop: StopHook | None = None,
) -> TrainResult:
    """Train on ``bars`` and write checkpoints under ``out_dir`` (see :mod:`tradingmodel.model.checkpoint`).

    All symbols are split at the same calendar times (:func:`calendar_cuts`). The manifest is written
    once, after the last group, so nothing that trains groups in parallel overwrites another's entry.
    Ctrl-C stops training cleanly: the best epoch so far is saved and ``interrupted`` is set; symbols not
    yet started are not trained. ``should_stop`` (checked before every batch) returning true stops the
    same way; ``on_epoch`` receives each epoch's record (model, epoch, losses, samples/s, best epoch) —
    the hooks a background job reports and is cancelled through.
    """
    out = Path(out_dir)
    present = sorted(pd.unique(bars["symbol"]).tolist()) if "symbol" in bars.columns else []
    symbols = list(dict.fromkeys(symbols)) if symbols else present
    missing = [s for s in symbols if s not in present]
    if missing:
        raise ValueError(f"no bars for symbol(s) {', '.join(missing)} (data has {', '.join(present) or 'none'})")
    preps = _prepare_all(bars, symbols, cfg, feature_fn)
    device = pick_device()
    groups = [("pooled", symbols)] if pooled else [(s, [s]) for s in symbols]
    result = TrainResult({}, {})
    with _make_progress(progress) as prog:
        for name, syms in groups:
            fit = fit_group(name, [preps[s] for s in syms], cfg, device, prog, on_epoch, should_stop)
            for s in syms:
                result.history[s] = fit.history
            if fit.net is not None:
                path = save_group(out / name, fit, {s: preps[s] for s in syms}, cfg, pooled, device)
                for s in syms:
                    result.model_dirs[s] = path
                    result.best_epoch[s] = fit.best_epoch
            if fit.interrupted:
                result.interrupted = True
                break
    if result.model_dirs:
        write_manifest(out, pooled, result.model_dirs)
    if not result.model_dirs and result.interrupted:
        raise KeyboardInterrupt
    return result
