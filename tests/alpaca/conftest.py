"""Fixtures: a fresh loopback fake Alpaca per test (executors reach it through alpaca-py's URL overrides), and the
live tests' tiny model for the engine tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alpaca.support import SYMBOLS
from tests.live.conftest import (
    CONFIG,
    model_dir,  # noqa: F401 - the engine tests' model
    trading_bars,
)
from tradingmodel.execution.alpaca.fake import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(symbols=SYMBOLS) as f:
        f.price({s: 100.0 for s in SYMBOLS})
        yield f


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The engine tests' bar file and trading config."""
    bars, cfg = tmp_path / "bars.csv", tmp_path / "trading.toml"
    trading_bars().to_csv(bars, index=False)
    cfg.write_text(CONFIG)
    return bars, cfg
