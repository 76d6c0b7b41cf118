"""Fixtures of the live-engine tests: a tiny trained model, a small bar file with missing bars, a config
that trades, the databases (SQLite and the real PostgreSQL, from tests/store) and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.store.conftest import db_url, pg_databases, pg_session_url  # noqa: F401 - fixtures
from tradingmodel.config import ModelConfig
from tradingmodel.data import simulate
from tradingmodel.model import train

TINY = {
    "sequence_length": 20,
    "hidden_size": 16,
    "num_layers": 1,
    "num_epochs": 2,
    "patience": 2,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "train_fraction": 0.5,
    "val_fraction": 0.15,
    "seed": 3,
}
SYMBOLS = ["AAA", "BBB"]
CONFIG = """[trading]
buy_threshold = 0.02
sell_threshold = 0.02
max_holding_bars = 12
"""


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pooled model for AAA and BBB (trained on days the tests do not trade)."""
    out = tmp_path_factory.mktemp("live-model")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(simulate(SYMBOLS, 3, seed=3, signal=1.0), ModelConfig(**TINY), out, pooled=True, progress=False)
    finally:
        torch.set_num_threads(before)
    return out


def trading_bars(minutes: int = 150, seed: int = 11, drop: float = 0.04) -> pd.DataFrame:
    """One simulated morning of AAA and BBB with a few bars missing at random (never a symbol's first)."""
    bars = simulate(SYMBOLS, 1, seed=seed, signal=1.0, start="2024-02-05")
    first = bars["timestamp"].min()
    bars = bars[bars["timestamp"] < first + pd.Timedelta(minutes=minutes)]
    rng = np.random.default_rng(seed)
    keep = (rng.random(len(bars)) >= drop) | (bars["timestamp"] == first).to_numpy()
    return bars[keep].reset_index(drop=True)


@pytest.fixture
def bars_file(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    trading_bars().to_csv(path, index=False)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "trading.toml"
    path.write_text(CONFIG)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``tradingmodel <args>`` in a real subprocess (this checkout first on the path)."""
    full = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from tradingmodel.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
    )


def _child(args: list[str], env: dict[str, str]) -> None:
    os.environ.update(env)
    from tradingmodel.cli import main

    sys.argv = ["tradingmodel", *args]
    try:
        main()
    except SystemExit as e:
        os._exit(int(e.code or 0))
    os._exit(0)


def run_forked(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> int:
    """``tradingmodel <args>`` in a forked child of this (already warmed-up) process; its exit code, or
    ``-signal`` when killed. A real process that can be SIGKILLed at any moment, without paying the
    import of torch and numba on every restart (seconds each on the shared test machines)."""
    import multiprocessing

    from tradingmodel.store import dispose_engines

    dispose_engines()  # no connection of this process may be shared with the child
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_child, args=(list(args), env or {}))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        raise TimeoutError(f"tradingmodel {' '.join(args)} did not end in {timeout} s")
    return int(p.exitcode)
