"""Model inputs: per-symbol feature arrays, chronological splits, scaling, zero-copy sliding windows.

Memory layout (why it is fast and small): all bars of all symbols live in ONE float32 array ``x`` of
shape ``(n_bars, 5)`` (columns = ``FEATURE_NAMES``; volume stored as ``log1p``, RSI as ``rsi/100``) plus a
float32 target vector. ``x.unfold`` gives every window of ``sequence_length`` bars as a strided *view*
(no 60x copy); only the windows of the current batch are gathered and normalised.

Normalisation of one window ending at bar t (all statistics fitted on the training part only):

* price columns (close, sma20, ema20): ``p_i / close_t - 1`` (relative to the window's last close, so the
  network never sees price levels and a model trained at $100 works at $500),
* volume: ``log1p(volume)``, RSI: ``rsi / 100``,
* then every column is standardised with the per-symbol training mean and std of those values.

Target: the next bar's simple return ``close[t+1] / close[t] - 1`` divided by its training-part standard
deviation (not centred: the training mean of 1-minute returns is noise and would bias every prediction).

A sample is identified by ``t``, the index of its window's last bar. Splits: train bars ``[start, a)``,
validation ``[a + gap, b)``, test ``[b + gap, n)``, ``gap = sequence_length``; a sample belongs to a part
when its whole window AND its target bar lie inside the part, so no window or target straddles two parts.
The cuts ``a`` and ``b`` come from *calendar* times shared by every symbol (:func:`calendar_cuts`), not
from each symbol's bar positions: symbols with different bar counts would otherwise put one symbol's
training bars inside another's test period (they share a market factor, so that is a leak).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

N_FEATURES = 5
PRICE_COLS = (0, 2, 3)  # close, sma20, ema20 inside FEATURE_NAMES order
SCALER_SAMPLE = 4096  # training windows used to fit the per-column window statistics (evenly spaced)

FeatureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def default_feature_fn(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """The project's feature code path (``tradingmodel.features.feature_arrays``), first 5 columns."""
    from tradingmodel.features import feature_arrays

    return np.asarray(feature_arrays(close, volume))[:, :N_FEATURES]


def feature_names() -> tuple[str, ...]:
    """The model's input names, from the features package (stored in and checked against checkpoints)."""
    from tradingmodel.features import FEATURE_NAMES

    return tuple(FEATURE_NAMES)


@dataclass
class SymbolSeries:
    """One symbol's bars turned into model arrays."""

    symbol: str
    timestamps: pd.DatetimeIndex
    close: np.ndarray  # float64, for returns and output prices
    x: np.ndarray  # float32 (n, 5): close, log1p(volume), sma20, ema20, rsi/100
    first_valid: int  # first bar whose 5 features are all finite

    @property
    def n(self) -> int:
        return len(self.close)

    def first_window_end(self, seq_len: int) -> int:
        """Smallest t with a full window of valid features."""
        return self.first_valid + seq_len - 1


def _check_bars(bars: pd.DataFrame) -> None:
    missing = [c for c in ("symbol", "timestamp", "close", "volume") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars: missing column(s) {', '.join(missing)}")
    if len(bars) == 0:
        raise ValueError("bars: no rows")


def symbol_series(bars: pd.DataFrame, symbol: str, feature_fn: FeatureFn | None = None) -> SymbolSeries:
    """Build one symbol's arrays; bad rows raise ``ValueError`` naming symbol, row and reason."""
    _check_bars(bars)
    sub = bars[bars["symbol"] == symbol]
    if len(sub) == 0:
        raise ValueError(f"bars: no rows for symbol {symbol}")
    ts = pd.DatetimeIndex(pd.to_datetime(sub["timestamp"], utc=True))
    if not ts.is_monotonic_increasing or ts.has_duplicates:
        bad = int(np.argmax(np.diff(ts.asi8) <= 0)) + 1
        raise ValueError(f"bars: {symbol} row {sub.index[bad]}: timestamps not strictly increasing ({ts[bad]})")
    close = sub["close"].to_numpy(dtype=np.float64)
    volume = sub["volume"].to_numpy(dtype=np.float64)
    for name, arr, ok in (
        ("close", close, np.isfinite(close) & (close > 0)),
        ("volume", volume, np.isfinite(volume) & (volume >= 0)),
    ):
        if not ok.all():
            i = int(np.argmin(ok))
            raise ValueError(f"bars: {symbol} row {sub.index[i]}: {name} = {arr[i]!r} is not valid")
    feats = (feature_fn or default_feature_fn)(close, volume)
    if feats.shape != (len(close), N_FEATURES):
        raise ValueError(f"features: expected shape ({len(close)}, {N_FEATURES}), got {feats.shape}")
    finite = np.isfinite(feats).all(axis=1)
    first_valid = int(np.argmax(finite)) if finite.any() else len(close)
    if not finite[first_valid:].all():
        i = first_valid + int(np.argmin(finite[first_valid:]))
        raise ValueError(f"features: {symbol} row {sub.index[i]} ({ts[i]}): NaN after the warm-up")
    x = np.empty((len(close), N_FEATURES), dtype=np.float32)
    x[:] = feats
    x[:, 1] = np.log1p(feats[:, 1])
    x[:, 4] = feats[:, 4] / 100.0
    return SymbolSeries(symbol, ts, close, x, first_valid)


def next_returns(close: np.ndarray) -> np.ndarray:
    """``r[t] = close[t+1] / close[t] - 1`` (the target of sample t); NaN for the last bar."""
    r = np.full(len(close), np.nan)
    r[:-1] = close[1:] / close[:-1] - 1.0
    return r


def calendar_cuts(
    times: list[pd.DatetimeIndex], train_fraction: float, val_fraction: float
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Two cut times shared by every symbol: the bars of the union time axis at ``train_fraction`` and at
    ``train_fraction + val_fraction`` of its length (one symbol: exactly its own bar positions)."""
    axis = (
        times[0]
        if len(times) == 1
        else pd.to_datetime(np.unique(np.concatenate([t.as_unit("ns").asi8 for t in times])), unit="ns", utc=True)
    )
    n = len(axis)
    if n == 0:
        raise ValueError("bars: no timestamps to split")
    a, b = int(n * train_fraction), int(n * (train_fraction + val_fraction))
    return axis[min(a, n - 1)], axis[min(b, n - 1)]


@dataclass(frozen=True)
class Split:
    """Bar-index boundaries of one symbol's parts: train [start,a), val [a+gap,b), test [b+gap,n)."""

    a: int
    b: int
    n: int
    gap: int
    start: int = 0

    @classmethod
    def make(cls, n: int, train_fraction: float, val_fraction: float, gap: int) -> Split:
        """By bar position within one symbol (kept for single-series tools; training uses :meth:`at_times`)."""
        return cls(int(n * train_fraction), int(n * (train_fraction + val_fraction)), n, gap)

    @classmethod
    def at_times(cls, ts: pd.DatetimeIndex, train_end: pd.Timestamp, val_end: pd.Timestamp, gap: int) -> Split:
        """Training = bars before ``train_end``, validation before ``val_end`` (after the gap), test the rest."""
        a = int(ts.searchsorted(train_end, side="left"))
        b = int(ts.searchsorted(val_end, side="left"))
        return cls(a, b, len(ts), gap)

    def part_range(self, part: str) -> tuple[int, int]:
        """Bar range ``[start, end)`` of a part."""
        return {"train": (self.start, self.a), "val": (self.a + self.gap, self.b), "test": (self.b + self.gap, self.n)}[
            part
        ]

    def samples(self, part: str, s: SymbolSeries, seq_len: int) -> np.ndarray:
        """Sample indices t (window end) whose window and target bar t+1 lie inside ``part``."""
        start, end = self.part_range(part)
        lo = max(start + seq_len - 1, s.first_window_end(seq_len))
        return np.arange(lo, end - 1, dtype=np.int64)  # t+1 <= end-1


def all_samples(s: SymbolSeries, seq_len: int, *, need_target: bool) -> np.ndarray:
    """Every t with a full window (and, if ``need_target``, a next bar)."""
    end = s.n - 1 if need_target else s.n
    return np.arange(s.first_window_end(seq_len), end, dtype=np.int64)


@dataclass
class Scaler:
    """Per-symbol statistics fitted on the training part only."""

    mean: np.ndarray  # (5,) of the transformed window values
    std: np.ndarray  # (5,)
    target_scale: float  # std of training next-bar returns

    def to_json(self) -> dict:
        return {
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "target_scale": float(self.target_scale),
        }

    @classmethod
    def from_json(cls, d: dict) -> Scaler:
        return cls(
            np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64), float(d["target_scale"])
        )


def relative_windows(view: torch.Tensor, t: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Gather windows ending at ``t`` from an unfolded view as (B, L, 5), price columns relative to last close."""
    w = view[t - (seq_len - 1)].transpose(1, 2)  # (B, L, F), a copy of only this batch
    out = w.clone(memory_format=torch.contiguous_format)
    last = w[:, -1:, 0:1]
    cols = list(PRICE_COLS)
    out[:, :, cols] = w[:, :, cols] / last - 1.0
    return out


def scale_windows(w: np.ndarray, mean: np.ndarray, std: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The numpy twin of :func:`relative_windows` then the standardisation of :meth:`WindowSet.batch`, for
    windows already gathered: ``w`` (B, L, 5) float32, ``mean``/``std`` (B, 1, 5) float32, into ``out``.

    The same float32 operations in the same order (divide, subtract one, subtract the mean, divide by the
    std), each correctly rounded in numpy as in torch, so the same bits (tested); the live predictor runs it
    because torch's per-op dispatch costs ~0.1 ms a call when its code is out of the CPU's caches."""
    np.copyto(out, w)
    last = w[:, -1:, 0]  # (B, 1): each window's last close
    one = np.float32(1.0)
    for c in PRICE_COLS:
        np.divide(w[:, :, c], last, out=out[:, :, c])
        np.subtract(out[:, :, c], one, out=out[:, :, c])
    np.subtract(out, mean, out=out)
    np.divide(out, std, out=out)
    return out


def fit_scaler(s: SymbolSeries, train_t: np.ndarray, seq_len: int) -> Scaler:
    """Fit window statistics and the target scale on training samples ``train_t`` only."""
    if len(train_t) < 2:
        raise ValueError(f"{s.symbol}: fewer than 2 training windows; need more bars")
    pick = train_t[np.linspace(0, len(train_t) - 1, min(SCALER_SAMPLE, len(train_t))).round().astype(np.int64)]
    hi = int(train_t.max()) + 1  # only bars up to the last training window end are touched
    view = torch.from_numpy(s.x[:hi]).unfold(0, seq_len, 1)
    w = relative_windows(view, torch.from_numpy(pick), seq_len).double().reshape(-1, N_FEATURES)
    mean = w.mean(0).numpy()
    std = w.std(0).numpy()
    std = np.where(std > 1e-12, std, 1.0)
    r = s.close[train_t + 1] / s.close[train_t] - 1.0
    scale = float(np.std(r))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{s.symbol}: training-part returns have zero variance")
    return Scaler(mean, std, scale)


class WindowSet:
    """Windows of several symbols over one concatenated float32 array (zero-copy view, batch gather)."""

    def __init__(self, series: list[SymbolSeries], scalers: list[Scaler], seq_len: int):
        self.seq_len = seq_len
        self.offsets = np.cumsum([0] + [s.n for s in series])
        self.x = torch.from_numpy(np.concatenate([s.x for s in series]) if len(series) > 1 else series[0].x)
        self.view = self.x.unfold(0, seq_len, 1)  # (N-L+1, F, L), no copy
        y = np.concatenate([next_returns(s.close) / sc.target_scale for s, sc in zip(series, scalers, strict=True)])
        self.y = torch.from_numpy(np.nan_to_num(y).astype(np.float32))
        self.mean = torch.tensor(np.stack([sc.mean for sc in scalers]), dtype=torch.float32)
        self.std = torch.tensor(np.stack([sc.std for sc in scalers]), dtype=torch.float32)

    def global_index(self, k: int, t: np.ndarray) -> np.ndarray:
        """Sample indices of symbol ``k`` (local t) in the concatenated array."""
        return t + self.offsets[k]

    def symbol_of(self, g: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.searchsorted(self.offsets, g.numpy(), side="right") - 1)

    def batch(self, g: torch.Tensor, sym: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs (B, L, 5) and standardised targets (B,) for global sample indices ``g``."""
        w = relative_windows(self.view, g, self.seq_len)
        w.sub_(self.mean[sym].unsqueeze(1)).div_(self.std[sym].unsqueeze(1))
        return w, self.y[g]

    def nbytes(self) -> int:
        """Bytes held for the windows (array + targets); the view itself holds none."""
        return self.x.element_size() * self.x.nelement() + self.y.element_size() * self.y.nelement()
