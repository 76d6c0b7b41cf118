"""Training throughput and window memory of the LSTM model, each beside a reference measured in this run.

Prints one line per figure: ``<figure>: <value> <unit> = <ratio>x <reference>``.

* samples/s of the seed configuration (seq 60, batch 64, 2x128 LSTM, Adam, clipping) with our zero-copy
  windows vs a straightforward PyTorch loop: windows materialised as a 60x copy, a TensorDataset and a
  shuffling DataLoader, the same network and step. The two loops run in alternating blocks of 5 steps
  and the median step time is used, so both see the same load on a shared machine.
* share of each training step spent outside the network (batch assembly), ours vs the DataLoader's.
* achieved FLOP rate (3x the analytic forward FLOPs per sample) vs this CPU's measured float32 matmul rate
  with the same thread count (median of probes taken between the training blocks).
* memory of the windows for 1M bars: our arrays vs a materialised 60x float32 copy (both measured with
  tracemalloc; the copy is really built, about 1.2 GB, then freed).

Usage: ``python benchmarks/train_throughput.py [--steps 60] [--threads 1] [--bars 1000000]``.
CPU only here (no GPU is lent to this project's benchmark machine); training code uses CUDA when present.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from tradingmodel.config import ModelConfig
from tradingmodel.data import simulate
from tradingmodel.model.network import build_network, lstm_flops_per_sample, seed_everything
from tradingmodel.model.windows import N_FEATURES, Split, WindowSet, fit_scaler, symbol_series


def _step(net, opt, xb, yb, clip):
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(net(xb), yb)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()


class Ours:
    """Our loop: gather+normalise a batch from the zero-copy view, then the network step."""

    def __init__(self, ws: WindowSet, train_t: np.ndarray, cfg: ModelConfig):
        self.gen = seed_everything(cfg.seed)
        self.ws, self.cfg = ws, cfg
        self.net = build_network(cfg, N_FEATURES)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.g = torch.from_numpy(train_t)
        self.sym = torch.zeros(len(train_t), dtype=torch.int64)
        self.perm = torch.randperm(len(train_t), generator=self.gen)
        self.k = 0

    def step(self) -> tuple[float, float]:
        """One training step; returns (seconds outside the network, total seconds)."""
        bs = self.cfg.batch_size
        start = (self.k * bs) % (len(self.g) - bs)
        self.k += 1
        idx = self.perm[start : start + bs]
        t0 = time.perf_counter()
        xb, yb = self.ws.batch(self.g[idx], self.sym[idx])
        t1 = time.perf_counter()
        _step(self.net, self.opt, xb, yb, self.cfg.grad_clip)
        return t1 - t0, time.perf_counter() - t0


class Reference:
    """Straightforward loop: all windows materialised (60x copy), TensorDataset + shuffling DataLoader."""

    def __init__(self, ws: WindowSet, train_t: np.ndarray, cfg: ModelConfig):
        seed_everything(cfg.seed)
        xs, ys = [], []
        for i in range(0, len(train_t), 4096):
            t = torch.from_numpy(train_t[i : i + 4096])
            xb, yb = ws.batch(t, torch.zeros(len(t), dtype=torch.int64))
            xs.append(xb)
            ys.append(yb)
        self.loader = DataLoader(TensorDataset(torch.cat(xs), torch.cat(ys)), batch_size=cfg.batch_size, shuffle=True)
        self.cfg = cfg
        self.net = build_network(cfg, N_FEATURES)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.it = iter(self.loader)

    def step(self) -> tuple[float, float]:
        t0 = time.perf_counter()
        try:
            xb, yb = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            xb, yb = next(self.it)
        t1 = time.perf_counter()
        _step(self.net, self.opt, xb, yb, self.cfg.grad_clip)
        return t1 - t0, time.perf_counter() - t0


def interleaved(a: Ours, b: Reference, steps: int, block: int = 5) -> tuple[np.ndarray, np.ndarray, float]:
    """Alternate blocks of steps (and a matmul probe) so all see the same machine load; 3 warm-up steps each.

    Returns per-step (outside, total) seconds of each loop and the median matmul GFLOP/s of the probes.
    """
    for _ in range(3):
        a.step()
        b.step()
    ta, tb, mm = [], [], []
    for _ in range(0, steps, block):
        ta += [a.step() for _ in range(block)]
        tb += [b.step() for _ in range(block)]
        mm.append(matmul_gflops(reps=5))
    return np.array(ta), np.array(tb), float(np.median(mm))


def matmul_gflops(n: int = 1024, reps: int = 20) -> float:
    """float32 n x n matrix multiply rate with the current torch threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def window_memory(n_bars: int, seq_len: int) -> tuple[float, float]:
    """Peak traced MB while building our windows (features given) vs materialising the 60x copy."""
    rng = np.random.default_rng(0)
    import pandas as pd

    bars = pd.DataFrame(
        {
            "symbol": "AAA",
            "timestamp": pd.date_range("2020-01-01", periods=n_bars, freq="min", tz="UTC"),
            "close": 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n_bars))),
            "volume": rng.integers(1000, 50000, n_bars).astype(float),
        }
    )
    s = symbol_series(bars, "AAA")
    del bars
    gc.collect()
    sp = Split.make(s.n, 0.7, 0.15, gap=seq_len)
    scaler = fit_scaler(s, sp.samples("train", s, seq_len), seq_len)
    tracemalloc.start()
    ws = WindowSet([s], [scaler], seq_len)
    _ = [sp.samples(p, s, seq_len) for p in ("train", "val", "test")]
    _, ours_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ours_mb = (ours_peak + s.x.nbytes) / 1e6  # + the float32 feature array the windows view
    del ws, _
    gc.collect()
    tracemalloc.start()
    full = np.lib.stride_tricks.sliding_window_view(s.x, seq_len, axis=0)  # (n-L+1, 5, L) view
    mat = np.ascontiguousarray(full.transpose(0, 2, 1))  # what a materialised window tensor holds
    _, ref_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del mat, full
    gc.collect()
    return ours_mb, ref_peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="timed training steps of each loop (interleaved)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared 2-core box)")
    ap.add_argument("--bars", type=int, default=1_000_000, help="bars for the memory figure")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ModelConfig()  # the seed configuration: seq 60, 2x128, batch 64, Adam 1e-3
    bars = simulate(["AAA"], 10, seed=1, signal=1.0)
    s = symbol_series(bars, "AAA")
    sp = Split.make(s.n, cfg.train_fraction, cfg.val_fraction, gap=cfg.sequence_length)
    train_t = sp.samples("train", s, cfg.sequence_length)
    ws = WindowSet([s], [fit_scaler(s, train_t, cfg.sequence_length)], cfg.sequence_length)

    ta, tb, mm = interleaved(Ours(ws, train_t, cfg), Reference(ws, train_t, cfg), args.steps)
    # median step time: robust to the other processes on a shared machine
    best_o = (cfg.batch_size / np.median(ta[:, 1]), float(ta[:, 0].sum() / ta[:, 1].sum()))
    best_r = (cfg.batch_size / np.median(tb[:, 1]), float(tb[:, 0].sum() / tb[:, 1].sum()))
    flops = 3 * lstm_flops_per_sample(N_FEATURES, cfg.hidden_size, cfg.num_layers, cfg.sequence_length)
    achieved = best_o[0] * flops / 1e9
    ours_mb, ref_mb = window_memory(args.bars, cfg.sequence_length)

    th = f"{args.threads} thread{'s' if args.threads > 1 else ''}"
    print(
        f"train samples/s (seq {cfg.sequence_length}, batch {cfg.batch_size}, {cfg.num_layers}x{cfg.hidden_size}"
        f" LSTM, {th}): {best_o[0]:.0f} samples/s = {best_o[0] / best_r[0]:.2f}x materialised windows + "
        f"DataLoader ({best_r[0]:.0f} samples/s)"
    )
    print(
        f"step time outside the network: {100 * best_o[1]:.2f} % = {best_o[1] / best_r[1]:.2f}x "
        f"materialised windows + DataLoader ({100 * best_r[1]:.2f} %)"
    )
    print(
        f"achieved training FLOP rate: {achieved:.1f} GFLOP/s = {achieved / mm:.2f}x float32 matmul "
        f"1024x1024 on {th} ({mm:.1f} GFLOP/s)"
    )
    print(
        f"window memory for {args.bars:,} bars: {ours_mb:.0f} MB = {ours_mb / ref_mb:.3f}x materialised "
        f"{cfg.sequence_length}x float32 copy ({ref_mb:.0f} MB)"
    )


if __name__ == "__main__":
    main()
