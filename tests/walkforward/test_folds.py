"""Calendar folds: shared cut times, purge gaps, no overlap, the last partial fold; the train split too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradingmodel.model import train
from tradingmodel.model.checkpoint import load_checkpoint, resolve_model_dir
from tradingmodel.model.windows import Split, symbol_series
from tradingmodel.walkforward import make_folds

from .conftest import TINY, coarse_bars

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")


def test_folds_roll_in_calendar_time_without_overlap_and_end_with_a_partial_fold() -> None:
    last = T0 + pd.Timedelta(days=40, hours=5)
    folds = make_folds(T0, last, train_days=14, val_days=7, test_days=7)
    assert [f.test_start for f in folds] == [T0 + pd.Timedelta(days=d) for d in (21, 28, 35)]
    for f in folds:
        assert f.val_start - f.train_start == pd.Timedelta(days=14)
        assert f.test_start - f.val_start == pd.Timedelta(days=7)
    for a, b in zip(folds, folds[1:], strict=False):
        assert a.test_end <= b.test_start  # test periods never overlap
        assert b.train_start - a.train_start == pd.Timedelta(days=7)  # rolling, not expanding
    assert [f.partial for f in folds] == [False, False, True]
    assert folds[-1].test_end == last + pd.Timedelta(1, "ns")  # the last bar is inside the partial fold
    # a longer step leaves untraded days between test periods; a shorter one is refused
    assert len(make_folds(T0, last, train_days=14, val_days=7, test_days=7, step_days=10)) == 2
    with pytest.raises(ValueError, match="--step-days 3 is shorter than --test-days 7"):
        make_folds(T0, last, train_days=14, test_days=7, step_days=3)
    with pytest.raises(ValueError, match="shorter than --train-days 40"):
        make_folds(T0, last, train_days=40, test_days=7)
    with pytest.raises(ValueError, match="--test-days must be a positive"):
        make_folds(T0, last, train_days=4, test_days=0)


def test_fold_parts_have_purge_gaps_and_no_symbol_trains_on_another_symbols_test_period() -> None:
    # BBB starts later and has fewer bars than AAA: bar positions would not line up, calendar cuts do
    bars = pd.concat(
        [
            coarse_bars(["AAA"], 32, seed=2),
            coarse_bars(["BBB"], 27, seed=3).assign(timestamp=lambda d: d["timestamp"] + pd.Timedelta(days=7)),
        ],
        ignore_index=True,
    )
    L = TINY["sequence_length"]
    folds = make_folds(bars["timestamp"].min(), bars["timestamp"].max(), train_days=14, val_days=7, test_days=7)
    assert len(folds) >= 3
    for fold in folds:
        parts: dict[str, dict[str, np.ndarray]] = {}
        for sym in ("AAA", "BBB"):
            s = symbol_series(bars, sym)
            sp = fold.split(s.timestamps, L)
            got = {p: sp.samples(p, s, L) for p in ("train", "val", "test")}
            if any(len(v) == 0 for v in got.values()):
                continue  # BBB has no training data yet in the first fold
            ts = s.timestamps
            # windows and targets inside their part; a sequence length of untouched bars between parts
            assert got["val"].min() - L + 1 - (got["train"].max() + 1) > L
            assert got["test"].min() - L + 1 - (got["val"].max() + 1) > L
            assert ts[got["train"].max() + 1] < fold.val_start <= ts[got["val"].min() - L + 1]
            # every bar of the test period is scored (its first window reads the bars just before it)
            in_test = np.flatnonzero((ts >= fold.test_start) & (ts < fold.test_end))
            assert got["test"].min() == in_test.min() and got["test"].max() == in_test.max() - 1
            parts[sym] = {p: ts[np.r_[v.min() - L + 1, v.max() + 1]] for p, v in got.items()}
        assert parts, fold
        last_train = max(p["train"][1] for p in parts.values())  # latest bar any training sample touches
        first_test = min(p["test"][0] for p in parts.values())  # earliest bar any test window reads
        assert last_train < first_test


def test_train_splits_every_symbol_at_the_same_calendar_times(tmp_path) -> None:
    # AAA: 6 sessions from Jan 2; BBB: 4 sessions from Jan 5 (different bar counts and ranges)
    bars = pd.concat(
        [coarse_bars(["AAA"], 6, seed=2, minutes=5), coarse_bars(["BBB"], 4, seed=3, minutes=5, start="2024-01-05")],
        ignore_index=True,
    )
    cfg = {**TINY, "num_epochs": 1, "train_fraction": 0.6, "val_fraction": 0.15}
    from tradingmodel.config import ModelConfig

    train(bars, ModelConfig(**cfg), tmp_path, progress=False)
    split = {s: load_checkpoint(p).symbols[s].split_ts for s, p in resolve_model_dir(tmp_path).items()}
    last_train = max(pd.Timestamp(v["train"][1]) for v in split.values())
    first_test = min(pd.Timestamp(v["test"][0]) for v in split.values())
    first_val = min(pd.Timestamp(v["val"][0]) for v in split.values())
    assert last_train < first_val < first_test  # no symbol's training bar after any symbol's test start
    # by bar position per symbol (the old split), BBB would train on bars after AAA's test part started
    old = {s: Split.make(len(g), 0.6, 0.15, TINY["sequence_length"]) for s, g in bars.groupby("symbol")}
    ts = {s: g["timestamp"].reset_index(drop=True) for s, g in bars.groupby("symbol")}
    assert ts["AAA"][old["AAA"].part_range("test")[0]] < ts["BBB"][old["BBB"].a - 1]
