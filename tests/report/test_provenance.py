"""Provenance: the bars hash identifies the data, not its timestamp resolution or row order."""

from __future__ import annotations

import json

import pandas as pd

from tradingmodel.report import bars_hash, provenance

from .conftest import make_bars


def test_bars_hash_is_stable_and_sensitive() -> None:
    bars = make_bars(["AAA", "BBB"], 1)
    h = bars_hash(bars)
    ns = bars.assign(timestamp=bars["timestamp"].astype("datetime64[ns, UTC]"))
    assert bars_hash(ns) == h
    assert bars_hash(bars.iloc[::-1].reset_index(drop=True)) == h
    changed = bars.copy()
    changed.loc[100, "close"] += 0.01
    assert bars_hash(changed) != h
    assert bars_hash(bars[bars["symbol"] == "AAA"]) != h


def test_provenance_describes_the_bars_and_is_json() -> None:
    bars = make_bars(["BBB", "AAA"], 1)
    p = provenance(bars, source="simulator", seed=3)
    assert p["source"] == "simulator" and p["seed"] == 3 and p["symbols"] == ["AAA", "BBB"]
    assert p["bars"] == len(bars) and len(p["bars_sha256"]) == 64
    assert pd.Timestamp(p["start"]) == bars["timestamp"].min() and pd.Timestamp(p["end"]) == bars["timestamp"].max()
    assert p["versions"]["pandas"] == pd.__version__
    assert p["git_commit"] is None or len(p["git_commit"].split("+")[0]) == 40
    json.dumps(p)
