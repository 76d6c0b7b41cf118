"""Per-bar predictions from a checkpoint: streaming features, a ring buffer per symbol, one batched call.

The checkpoint is loaded once. Each closed bar updates the symbol's :class:`StreamingFeatures` (the same
numbers as the batch features) and appends the model's input row (close, log1p(volume), sma20, ema20,
rsi/100, computed in float64 and stored as float32 exactly as :func:`tradingmodel.model.windows.symbol_series`
does) to a ring buffer of the last ``sequence_length`` rows. A prediction normalises that window with the
training statistics stored in the checkpoint (:func:`tradingmodel.model.windows.scale_windows`, the numpy
twin of training's ``relative_windows`` and per-symbol standardisation) and runs the network on all ready
symbols of one checkpoint in one call of the batch-independent kernel that ``model.predict`` runs too
(:mod:`tradingmodel.model.inference`), so every prediction has ``model.predict``'s bits. Warm-up: feed
stored or replayed history through :meth:`Predictor.warm_up`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradingmodel.features.streaming import StreamingFeatures
from tradingmodel.model.baselines import apply_calibration
from tradingmodel.model.checkpoint import Checkpoint
from tradingmodel.model.inference import LSTMKernel
from tradingmodel.model.predict import checkpoints_for
from tradingmodel.model.windows import N_FEATURES, scale_windows

#: positions inside StreamingFeatures' output (ALL_NAMES order)
_CLOSE, _VOLUME, _SMA, _EMA, _RSI, _VSMA, _RETSTD = range(7)


@dataclass(frozen=True)
class Prediction:
    """The model's forecast made after one bar closed, for the next bar's close."""

    symbol: str
    predicted_close: float
    confidence: float
    close: float


@dataclass(frozen=True)
class _Rows:
    """Per-row constants of one symbol list: input scaling (rows, 1, 5) float32, output scale and calibration,
    and the two (rows, L, 5) buffers its windows are gathered and scaled in."""

    mean: np.ndarray
    std: np.ndarray
    target_scale: np.ndarray  # (rows,)
    calibration: np.ndarray  # (2, rows)
    windows: np.ndarray
    scaled: np.ndarray


class _Symbol:
    """One symbol's stream state: features, the last ``L`` input rows, and the strategy's features.

    The rows live twice in a ``2L`` buffer (row ``k`` at ``k % L`` and ``k % L + L``), so the newest window,
    oldest first, is always the contiguous slice ``rows[i:i + L]``: no copy per prediction."""

    __slots__ = ("count", "feats", "last", "rows", "seq_len", "valid")

    def __init__(self, seq_len: int) -> None:
        self.feats = StreamingFeatures()
        self.seq_len = seq_len
        self.rows = np.zeros((2 * seq_len, N_FEATURES), dtype=np.float32)
        self.count = 0  # rows written into the ring
        self.valid = 0  # consecutive rows with all five inputs finite, ending at the newest
        self.last = np.full(7, np.nan)

    def push(self, close: float, volume: float) -> None:
        f = self.feats.update(close, volume)
        self.last = f
        row = f[:N_FEATURES].copy()
        row[1] = np.log1p(f[1])
        row[4] = f[4] / 100.0
        i = self.count % self.seq_len
        self.rows[i] = self.rows[i + self.seq_len] = row  # float64 -> float32 as symbol_series
        self.count += 1
        self.valid = self.valid + 1 if np.isfinite(row).all() else 0

    def window(self) -> np.ndarray:
        """The last L rows, oldest first (a view)."""
        i = self.count % self.seq_len
        return self.rows[i : i + self.seq_len]


class Predictor:
    """Loads ``model_dir`` once; :meth:`update` a closed bar, :meth:`predict` every updated symbol at once."""

    def __init__(self, model_dir: str | Path, symbols: Sequence[str]) -> None:
        pairs = checkpoints_for(model_dir, list(symbols))
        self.checkpoint_of: dict[str, Checkpoint] = dict(pairs)
        loaded = {id(ck): ck for _, ck in pairs}
        self.checkpoints = list(loaded.values())
        lengths = {ck.config.sequence_length for ck in self.checkpoints}
        self.sequence_length = max(lengths)
        self.symbols = list(symbols)
        self._state = {s: _Symbol(self.checkpoint_of[s].config.sequence_length) for s in symbols}
        self._stacked: dict[tuple[str, ...], _Rows] = {}
        self._kernels = {id(ck): LSTMKernel(ck.net) for ck in self.checkpoints}
        self._cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        self.calls = 0  # network calls made
        self.split_calls = 0  # of them, run on more than one thread (see _run)

    def prepare(self) -> None:
        """A slice's bars are arriving: lets the kernels get their second thread ready (see
        :meth:`LSTMKernel.wake`) while the engine does the slice's other work."""
        if self._cores > 1:
            for k in self._kernels.values():
                k.wake()

    def update(self, symbol: str, close: float, volume: float) -> None:
        """Feed one closed bar of ``symbol`` (bars of a symbol in time order, each once)."""
        self._state[symbol].push(close, volume)

    def warm_up(self, symbol: str, close: np.ndarray, volume: np.ndarray) -> None:
        """Feed past bars (oldest first) so that predictions start at once; see ``LIVE_BUFFER_BARS``."""
        st = self._state[symbol]
        for c, v in zip(
            np.asarray(close, dtype=np.float64).tolist(), np.asarray(volume, dtype=np.float64).tolist(), strict=True
        ):
            st.push(c, v)

    def strategy_features(self, symbol: str) -> tuple[float, float, float]:
        """(volume_sma20, rsi14, ret_std20) after the symbol's last bar (NaN during warm-up)."""
        f = self._state[symbol].last
        return float(f[_VSMA]), float(f[_RSI]), float(f[_RETSTD])

    def ready(self, symbol: str) -> bool:
        """Whether ``symbol`` has a full window of valid inputs."""
        st = self._state[symbol]
        return st.valid >= st.seq_len

    def predict(self, symbols: Sequence[str]) -> dict[str, Prediction]:
        """Predictions for the ready ones among ``symbols``: one network call per checkpoint."""
        groups: dict[int, list[str]] = {}
        for s in symbols:
            if self.ready(s):
                groups.setdefault(id(self.checkpoint_of[s]), []).append(s)
        out: dict[str, Prediction] = {}
        for syms in groups.values():
            ck = self.checkpoint_of[syms[0]]
            rows = self._rows(syms)
            z = self._run(ck, syms, rows)
            close = np.array([self._state[s].last[_CLOSE] for s in syms])
            pred = close * (1.0 + z * rows.target_scale)  # elementwise: the float64 operations one by one would do
            conf = apply_calibration(np.abs(z), rows.calibration)
            for s, c, p, q in zip(syms, close.tolist(), pred.tolist(), conf.tolist(), strict=True):
                out[s] = Prediction(s, p, q if math.isfinite(q) else math.nan, c)
        return out

    def _run(self, ck: Checkpoint, syms: list[str], rows: _Rows) -> np.ndarray:
        """Network outputs (float64) for ``syms``' windows (``rows``: their constants and buffers): the
        checkpoint's :class:`LSTMKernel`, whose bits for a window do not depend on the batch, so one symbol runs
        as one row and equals ``model.predict``. The call may use every core (the kernel releases the GIL; see
        :meth:`LSTMKernel.threads_for`)."""
        m = len(syms)
        for i, s in enumerate(syms):
            rows.windows[i] = self._state[s].window()
        w = scale_windows(rows.windows, rows.mean, rows.std, rows.scaled)
        kernel = self._kernels[id(ck)]
        self.calls += 1
        self.split_calls += kernel.threads_for(m, self._cores) > 1
        return kernel(w, threads=self._cores).astype(np.float64)

    def _rows(self, order: list[str]) -> _Rows:
        """The per-row constants of a symbol list (cached: a session predicts the same lists again)."""
        key = tuple(order)
        got = self._stacked.get(key)
        if got is None:
            if len(self._stacked) >= 64:
                self._stacked.clear()
            metas = [self.checkpoint_of[s].symbols[s] for s in order]
            shape = (len(order), self.checkpoint_of[order[0]].config.sequence_length, N_FEATURES)
            got = self._stacked[key] = _Rows(
                np.stack([m.scaler.mean for m in metas]).astype(np.float32)[:, None, :],
                np.stack([m.scaler.std for m in metas]).astype(np.float32)[:, None, :],
                np.array([m.scaler.target_scale for m in metas], dtype=np.float64),
                np.array([[float(m.calibration[0]) for m in metas], [float(m.calibration[1]) for m in metas]]),
                np.empty(shape, dtype=np.float32),
                np.empty(shape, dtype=np.float32),
            )
        return got
