"""Fixtures: a fresh loopback fake Alpaca per test, and executors wired to it through alpaca-py's URL overrides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alpaca.support import SYMBOLS
from tradingmodel.execution.alpaca.fake import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(symbols=SYMBOLS) as f:
        f.price({s: 100.0 for s in SYMBOLS})
        yield f
