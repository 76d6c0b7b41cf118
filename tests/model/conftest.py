"""Shared fixtures: small simulated data sets and one tiny trained model reused by several tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tradingmodel.config import ModelConfig
from tradingmodel.data import simulate
from tradingmodel.model import train

# Tiny but able to learn the planted signal: trains in ~2 s on one core.
TINY = {"sequence_length": 20, "hidden_size": 16, "num_layers": 1, "num_epochs": 6, "patience": 3,
        "batch_size": 64, "learning_rate": 3e-3, "train_fraction": 0.5, "val_fraction": 0.15, "seed": 3}


def tiny_cfg(**overrides: object) -> ModelConfig:
    return ModelConfig(**{**TINY, **overrides})


@pytest.fixture(name="tiny_cfg")
def tiny_cfg_fixture():  # noqa: ANN201 - returns the factory above
    """``tiny_cfg(**overrides)`` -> a small ModelConfig."""
    return tiny_cfg


@pytest.fixture(scope="session")
def signal_bars() -> pd.DataFrame:
    return simulate(["AAA"], 20, seed=3, signal=1.0)


@pytest.fixture(scope="session")
def trained(signal_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory trained on ``signal_bars`` (read-only for the tests that use it)."""
    out = tmp_path_factory.mktemp("trained")
    before = torch.get_num_threads()  # session fixtures run before the package one below
    torch.set_num_threads(1)
    try:
        train(signal_bars, tiny_cfg(), out, progress=False)
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """The tiny networks here gain nothing from a second thread; on a busy 2-core box two threads made
    training ~10x slower (they wait on each other). Package scope: it is set before the session fixtures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
