"""Shared fixtures: small simulated data sets and one tiny trained model reused by several tests."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tradingmodel.config import ModelConfig
from tradingmodel.data import simulate
from tradingmodel.model import train

# Tiny but able to learn the planted signal: trains in ~2 s on one core. Early stopping ends it: on
# ``signal_bars`` the validation loss is lowest after epoch 3 and worse in epochs 4-6, so training stops
# after epoch 6 (patience 3) and the checkpoint must hold epoch 3's weights, not the last epoch's. (With
# batches of 64 the best epoch was the first: most tests then used a once-through network.) Measured over
# simulator seeds 1..12 with this setup: the signal test below holds on all 12 (best epochs 1-9), and the
# null test's 95% interval contains 50% on all 12.
TINY = {
    "sequence_length": 20,
    "hidden_size": 16,
    "num_layers": 1,
    "num_epochs": 10,
    "patience": 3,
    "batch_size": 256,
    "learning_rate": 3e-3,
    "train_fraction": 0.5,
    "val_fraction": 0.15,
    "seed": 3,
}


def tiny_cfg(**overrides: object) -> ModelConfig:
    return ModelConfig(**{**TINY, **overrides})


@pytest.fixture(name="tiny_cfg")
def tiny_cfg_fixture():  # noqa: ANN201 - returns the factory above
    """``tiny_cfg(**overrides)`` -> a small ModelConfig."""
    return tiny_cfg


@pytest.fixture(scope="session")
def signal_bars() -> pd.DataFrame:
    return simulate(["AAA"], 20, seed=3, signal=1.0)


def train_keeping_nets(*args: object, **kwargs: object) -> tuple[object, dict[str, torch.nn.Module]]:
    """``train(...)`` that also returns a copy of each network exactly as it was handed to the checkpoint
    writer (name -> module), to compare with what loads back. It wraps the writer that ``train`` calls
    and passes everything through unchanged."""
    module = sys.modules[train.__module__]
    real = module.save_checkpoint
    nets: dict[str, torch.nn.Module] = {}

    def keeping(path: Path, net: torch.nn.Module, *rest: object, **kw: object) -> Path:
        nets[Path(path).name] = copy.deepcopy(net)
        return real(path, net, *rest, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "save_checkpoint", keeping)
        result = train(*args, **kwargs)
    return result, nets


@pytest.fixture(scope="session")
def trained_nets(
    signal_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, torch.nn.Module]]:
    """A model directory trained on ``signal_bars`` and the in-memory networks training ended with."""
    out = tmp_path_factory.mktemp("trained")
    before = torch.get_num_threads()  # session fixtures run before the package one below
    torch.set_num_threads(1)
    try:
        _, nets = train_keeping_nets(signal_bars, tiny_cfg(), out, progress=False)
    finally:
        torch.set_num_threads(before)
    return out, nets


@pytest.fixture(scope="session")
def trained(trained_nets: tuple[Path, dict[str, torch.nn.Module]]) -> Path:
    """The model directory of :func:`trained_nets` (read-only for the tests that use it)."""
    return trained_nets[0]


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """The tiny networks here gain nothing from a second thread; on a busy 2-core box two threads made
    training ~10x slower (they wait on each other). Package scope: it is set before the session fixtures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
