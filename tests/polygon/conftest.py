"""Fixtures for the Polygon tests: simulator bars and a running fake Polygon server (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from tradingmodel.data.polygon.fake import FakePolygon

from .support import API_KEY, make_bars


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    """Three trading days of minute bars for two symbols (2 x 1,170 bars)."""
    return make_bars(["AAPL", "MSFT"], 3)


@pytest.fixture
def fake(bars: pd.DataFrame) -> Iterator[FakePolygon]:
    """A fake Polygon serving ``bars`` on REST (everything published)."""
    with FakePolygon(bars, api_key=API_KEY) as f:
        yield f
