"""Fixtures: a fresh loopback fake Alpaca per test (executors reach it through alpaca-py's URL overrides), and the
live tests' tiny model for the engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alpaca.support import SYMBOLS
from tests.live.conftest import model_dir  # noqa: F401 - the engine tests' model
from tradingmodel.execution.alpaca.fake import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(symbols=SYMBOLS) as f:
        f.price({s: 100.0 for s in SYMBOLS})
        yield f
