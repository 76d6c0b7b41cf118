"""Inference for the LSTM regressor, with bits that do not depend on the batch.

torch's CPU LSTM picks its matrix kernels by batch shape, so one window can get other bits alone than inside
a batch of 16 (measured: 1-3 rows differ from a 16-row batch in about half of random windows). Live trading
predicts one bar at a time and must equal ``model.predict`` on the same bars, so both run this kernel
instead: every window is computed on its own, every sum in one fixed order (see ``_lstm.c``), and a window's
output is the same alone, in any batch and on any number of threads.

Two builds of the same arithmetic: a C extension (``_lstm.c``, built by ``pip install``, loaded with ctypes
so the GIL is released during the call) and a numba twin used where the C build is missing; the tests hold
them equal bit for bit. Against torch's own forward pass the outputs differ by float rounding (< 1e-6 on
outputs of order 1, tested). Training and CUDA inference stay on torch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import torch

from tradingmodel.model.network import LSTMRegressor

BACKENDS = ("c", "numba")
#: below this many windows per thread a split of the windows costs more than it saves
MIN_ROWS_PER_THREAD = 8
#: up to this many windows (one tile of the C kernel, TR) run on two threads that split the hidden units
UNIT_SPLIT_MAX = 4

_F = ctypes.POINTER(ctypes.c_float)


@cache
def _c_library() -> ctypes.CDLL | None:
    """The C kernel, or None when the extension was not built (no compiler at install time)."""
    spec = importlib.util.find_spec("tradingmodel.model._lstm")
    if spec is None or not spec.origin:
        return None
    lib = ctypes.CDLL(spec.origin)
    i = ctypes.c_int
    lib.lstm_forward.argtypes = [_F, i, i, i, i, i, _F, _F, _F, _F, _F, ctypes.c_float, _F, i]
    lib.lstm_forward.restype = ctypes.c_int
    lib.lstm_use.argtypes = [i]
    lib.lstm_use.restype = ctypes.c_int
    lib.lstm_wake.argtypes = []
    lib.lstm_wake.restype = None
    lib.lstm_split_calls.argtypes = []
    lib.lstm_split_calls.restype = ctypes.c_long
    lib.lstm_stall_worker.argtypes = [i]
    lib.lstm_stall_worker.restype = None
    return lib


def default_backend() -> str:
    """``c`` when the C kernel is built, else ``numba``; ``TRADINGMODEL_LSTM_KERNEL`` overrides."""
    forced = os.environ.get("TRADINGMODEL_LSTM_KERNEL", "")
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"TRADINGMODEL_LSTM_KERNEL must be one of {', '.join(BACKENDS)}, got {forced!r}")
        return forced
    return "c" if _c_library() is not None else "numba"


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="lstm")


def _row_parts(n: int, threads: int) -> int:
    """How many chunks of windows a call on ``n`` windows splits into, one per thread."""
    return max(1, min(threads, n // MIN_ROWS_PER_THREAD))


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _halves(a: np.ndarray, hidden: int) -> np.ndarray:
    """``a``'s last axis (the 4 * hidden gate columns, torch's order: input, forget, cell, output gate of
    every unit) in the C kernel's order: two halves of the units, ``[0, hidden // 2)`` then the rest, each
    as its four gate blocks, so that one thread's half is contiguous (see ``_lstm.c``)."""
    cut = hidden // 2
    cols = [q * hidden + np.arange(u0, u1) for u0, u1 in ((0, cut), (cut, hidden)) for q in range(4)]
    return a[..., np.concatenate(cols)]


def _aligned(a: np.ndarray) -> np.ndarray:
    """``a`` as float32 in C order starting on a 64-byte boundary: the kernel loads weight rows 64 bytes at a
    time, and a load that straddles two cache lines cost 1.6x on one window (0.35 vs 0.55 ms, measured)."""
    a = _f32(a)
    buf = np.empty(a.size + 16, dtype=np.float32)
    start = (-buf.ctypes.data % 64) // 4
    out = buf[start : start + a.size].reshape(a.shape)
    out[...] = a
    return out


class LSTMKernel:
    """A network's weights laid out for the kernel; call it on windows ``(n, L, I)`` -> outputs ``(n,)``.

    Build it once per set of weights (the live predictor keeps one per checkpoint); a network whose weights
    change afterwards needs a new kernel."""

    def __init__(self, net: LSTMRegressor, backend: str | None = None) -> None:
        self.backend = backend or default_backend()
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "c" and _c_library() is None:
            raise RuntimeError("the C LSTM kernel is not built (reinstall with a C compiler: make install)")
        lstm = net.lstm
        if lstm.bidirectional or lstm.proj_size or not lstm.batch_first:
            raise ValueError("the kernel runs batch-first, one-directional LSTMs without projection only")
        sd = {k: v.detach().to("cpu", torch.float32).numpy() for k, v in lstm.state_dict().items()}
        H, n = lstm.hidden_size, lstm.num_layers
        self.hidden, self.layers, self.inputs = H, n, lstm.input_size
        # the C kernel takes the gate columns in halves of the units; the numba twin in torch's order
        cols = (lambda a: _halves(a, H)) if self.backend == "c" else (lambda a: a)
        self.wih0t = _aligned(cols(sd["weight_ih_l0"].T))
        rest = [sd[f"weight_ih_l{i}"].T for i in range(1, n)] or [np.zeros((H, 4 * H), np.float32)]
        self.wiht = _aligned(cols(np.stack(rest)))
        self.whht = _aligned(cols(np.stack([sd[f"weight_hh_l{i}"].T for i in range(n)])))
        # b_ih + b_hh once, in float32 (torch adds both to every gate pre-activation)
        self.bias = _aligned(cols(np.stack([sd[f"bias_ih_l{i}"] + sd[f"bias_hh_l{i}"] for i in range(n)])))
        self.hw = _aligned(net.head.weight.detach().to("cpu", torch.float32).numpy()[0])
        self.hb = np.float32(net.head.bias.detach().to("cpu", torch.float32).numpy()[0])
        self._weights: list[ctypes._Pointer] | None = None  # type: ignore[type-arg]

    def wake(self) -> None:
        """Wake the C kernel's second thread if it sleeps (it does after 10 ms without a call): a window
        that finds it asleep runs on one thread rather than wait for it (a wake-up took up to 15 ms here).
        The live engine calls this when a bar arrives, a few hundred microseconds before its prediction."""
        if self.backend == "c":
            _c_library().lstm_wake()  # type: ignore[union-attr]

    def threads_for(self, n: int, threads: int) -> int:
        """How many threads a call on ``n`` windows with ``threads`` allowed runs on: the windows are split
        from ``2 * MIN_ROWS_PER_THREAD`` on; up to :data:`UNIT_SPLIT_MAX` windows, the C kernel runs them on
        two threads that compute half of the hidden units each (one window reads every weight per step, so
        two cores stream half each: 0.36 -> 0.20 ms measured; between the two, one thread)."""
        parts = _row_parts(n, threads)
        if parts == 1 and threads > 1 and self.backend == "c" and n <= UNIT_SPLIT_MAX:
            return 2
        return parts

    def __call__(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Outputs (float32) for windows ``x`` (n, L, inputs) on up to ``threads`` threads (see
        :meth:`threads_for`); the bits do not depend on it."""
        x = _f32(x)
        if x.ndim != 3 or x.shape[2] != self.inputs:
            raise ValueError(f"windows must be (n, L, {self.inputs}), got {x.shape}")
        n = x.shape[0]
        out = np.empty(n, dtype=np.float32)
        parts = _row_parts(n, threads)
        if parts == 1:  # one part: on one thread, or on two that split the hidden units (threads_for decides)
            self._run(x, out, split=self.threads_for(n, threads))
            return out
        bounds = np.linspace(0, n, parts + 1).astype(int)
        pool = _pool(parts - 1)
        futures = [pool.submit(self._run, x[a:b], out[a:b]) for a, b in zip(bounds[1:-1], bounds[2:], strict=True)]
        self._run(x[: bounds[1]], out[: bounds[1]])
        for f in futures:
            f.result()
        return out

    def _run(self, x: np.ndarray, out: np.ndarray, split: int = 1) -> None:
        if len(x) == 0:
            return
        if self.backend == "numba":
            from tradingmodel.model._lstm_numba import forward

            forward(x, self.wih0t, self.wiht, self.whht, self.bias, self.hw, self.hb, out)
            return
        if self._weights is None:  # the weights' pointers, once (~3 us each to make)
            self._weights = [a.ctypes.data_as(_F) for a in (self.wih0t, self.wiht, self.whht, self.bias, self.hw)]
        rc = _c_library().lstm_forward(  # type: ignore[union-attr]
            x.ctypes.data_as(_F),
            x.shape[0],
            x.shape[1],
            x.shape[2],
            self.hidden,
            self.layers,
            *self._weights,
            float(self.hb),
            out.ctypes.data_as(_F),
            split,
        )
        if rc != 0:
            raise MemoryError(f"LSTM kernel: out of memory for {x.shape[0]} windows of {x.shape[1]} steps")
