"""Calendar folds shared by every symbol: train on a rolling window, validate, then trade the next period.

Fold ``k`` (``T_k = first + train_days + val_days + k * step_days``)::

    training    [T_k - val - train, T_k - val)
    validation  [T_k - val, T_k)            minus a purge gap of one sequence length after training
    test        [T_k, T_k + test)            every bar in it is scored and traded

In bars (per symbol, :meth:`Fold.split`): validation starts ``sequence_length`` bars after the last
training bar, and the test part's windows (which read the ``sequence_length - 1`` bars before ``T_k``)
start ``sequence_length`` bars after the last validation bar. So no window or target of one part touches
another, and since the cut times are the same for every symbol, no symbol's training bar is later than
any symbol's first test bar. Test periods do not overlap (``step_days >= test_days``); the last one may
be partial (cut at the end of the data), and is marked so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tradingmodel.model.windows import Split


@dataclass(frozen=True)
class Fold:
    """One fold's calendar cut times (UTC; every interval is ``[start, end)``)."""

    index: int
    train_start: pd.Timestamp
    val_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    partial: bool = False

    def to_json(self) -> dict:
        return {
            "fold": self.index,
            "train_start": self.train_start.isoformat(),
            "val_start": self.val_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
            "partial": self.partial,
        }

    def describe(self) -> str:
        return (
            f"fold {self.index} (train from {self.train_start:%Y-%m-%d %H:%M}, validation from "
            f"{self.val_start:%Y-%m-%d %H:%M}, test {self.test_start:%Y-%m-%d %H:%M} to "
            f"{self.test_end:%Y-%m-%d %H:%M})"
        )

    def split(self, ts: pd.DatetimeIndex, seq_len: int) -> Split:
        """This fold's parts as bar indices of one symbol's timestamps ``ts`` (sorted, UTC)."""
        ts = ts.as_unit("ns")  # the cut times are in nanoseconds (the last fold ends 1 ns after the data)
        start = int(ts.searchsorted(self.train_start, side="left"))
        a = int(ts.searchsorted(self.val_start, side="left"))
        first_test = int(ts.searchsorted(self.test_start, side="left"))
        end = int(ts.searchsorted(self.test_end, side="left"))
        # test part = [first_test - (L - 1), end): its first full window ends at the first test bar
        b = max(a, first_test - (seq_len - 1) - seq_len)
        return Split(a=a, b=b, n=end, gap=seq_len, start=start)

    def test_mask(self, ts: pd.Series | pd.DatetimeIndex) -> pd.Series:
        """Bars inside the test period."""
        t = pd.Series(ts)
        return (t >= self.test_start) & (t < self.test_end)


def _days(name: str, v: float | None) -> pd.Timedelta:
    if v is None or not v > 0:
        raise ValueError(f"--{name.replace('_', '-')} must be a positive number of days, got {v!r}")
    return pd.Timedelta(days=float(v))


def make_folds(
    first: pd.Timestamp,
    last: pd.Timestamp,
    *,
    train_days: float,
    test_days: float,
    step_days: float | None = None,
    val_days: float | None = None,
) -> list[Fold]:
    """Folds over bars from ``first`` to ``last`` (inclusive); ``val_days``/``step_days`` default to
    ``test_days``. Raises ``ValueError`` naming the option when the data is too short or periods overlap."""
    train, test = _days("train_days", train_days), _days("test_days", test_days)
    val = _days("val_days", test_days if val_days is None else val_days)
    step = _days("step_days", test_days if step_days is None else step_days)
    if step < test:
        raise ValueError(
            f"--step-days {step_days} is shorter than --test-days {test_days}: test periods "
            "would overlap and the stitched equity would count bars twice"
        )
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    end = last + pd.Timedelta(1, "ns")
    t = first + train + val
    if t >= end:
        raise ValueError(
            f"the data spans {first} to {last}, shorter than --train-days {train_days} + "
            f"--val-days {val_days if val_days is not None else test_days} + a test period"
        )
    folds = []
    while t < end:
        folds.append(Fold(len(folds), t - val - train, t - val, t, min(t + test, end), t + test > end))
        t = t + step
    return folds
