"""GET /api/v1/market-data/{symbol}: keyset pages, indicators, 404 and 422 paths (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.api.conftest import SYMBOL, Api
from tradingmodel.features import feature_arrays
from tradingmodel.features.batch import ALL_NAMES
from tradingmodel.services.bars import INDICATOR_NAMES


def _all_pages(api: Api, **params: object) -> tuple[list[dict], int]:
    bars, pages, cursor = [], 0, None
    while True:
        q = {**params, **({"cursor": cursor} if cursor else {})}
        r = api.client.get(f"/api/v1/market-data/{SYMBOL.lower()}", params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        bars += body["bars"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return bars, pages


def test_pages_cover_the_range_once_in_order(stored: Api, sim_bars: pd.DataFrame) -> None:
    want = sim_bars[sim_bars["symbol"] == SYMBOL].reset_index(drop=True)
    start, end = want["timestamp"].iloc[100], want["timestamp"].iloc[1100]
    bars, pages = _all_pages(stored, start=start.isoformat(), end=end.isoformat(), limit=300)
    assert pages == 4  # 1000 bars in pages of 300
    got = pd.to_datetime([b["timestamp"] for b in bars], utc=True)
    assert list(got) == list(want["timestamp"].iloc[100:1100])  # every bar once, in order, end exclusive
    np.testing.assert_array_equal([b["close"] for b in bars], want["close"].iloc[100:1100].to_numpy())


def test_indicators_match_a_whole_history_computation(stored: Api, sim_bars: pd.DataFrame) -> None:
    """A page deep into the data gets the same indicators as features computed over every bar."""
    want = sim_bars[sim_bars["symbol"] == SYMBOL].reset_index(drop=True)
    feats = feature_arrays(want["close"].to_numpy(), want["volume"].to_numpy())
    lo = 1000
    r = stored.client.get(
        f"/api/v1/market-data/{SYMBOL}", params={"start": want["timestamp"].iloc[lo].isoformat(), "limit": 50}
    )
    assert r.status_code == 200
    bars = r.json()["bars"]
    for name in INDICATOR_NAMES:
        got = np.array([b["indicators"][name] for b in bars], dtype=float)
        np.testing.assert_allclose(got, feats[lo : lo + 50, ALL_NAMES.index(name)], rtol=1e-9, atol=1e-9)
    # the first bars of the history are still warming up: null, never a made-up value
    first = stored.client.get(f"/api/v1/market-data/{SYMBOL}", params={"limit": 5}).json()["bars"]
    assert all(b["indicators"]["sma20"] is None for b in first)


def test_unknown_symbol_is_404(stored: Api) -> None:
    r = stored.client.get("/api/v1/market-data/ZZZ")
    assert r.status_code == 404
    assert "unknown symbol 'ZZZ'" in r.json()["detail"]


def test_bad_requests_are_422_with_a_message(stored: Api) -> None:
    cases = {
        "start=2024-01-05&end=2024-01-03": "empty range",
        "start=2000-01-01&end=2024-01-03": "range too long",
        "start=yesterday": "start: cannot parse 'yesterday'",
        "timeframe=7x": "bad timeframe '7x'",
        "cursor=%21%21": "is not a cursor",
        "limit=0": "limit",
        "limit=100000": "limit",
    }
    for query, words in cases.items():
        r = stored.client.get(f"/api/v1/market-data/{SYMBOL}?{query}")
        assert r.status_code == 422, query
        assert words in r.json()["detail"], (query, r.json())


def test_a_range_without_bars_is_an_empty_last_page(stored: Api) -> None:
    r = stored.client.get(f"/api/v1/market-data/{SYMBOL}", params={"start": "2030-01-01"})
    assert r.status_code == 200
    assert r.json()["bars"] == [] and r.json()["next_cursor"] is None


def test_the_body_is_exactly_the_declared_schema(stored: Api) -> None:
    """The route serialises its page itself (no response-model pass): the body must still parse as
    ``BarPage`` and say nothing the schema does not (warm-up NaN as null, times in UTC with ``Z``)."""
    from tradingmodel.api.schemas import BarPage

    r = stored.client.get(f"/api/v1/market-data/{SYMBOL}", params={"limit": 30})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    page = BarPage.model_validate_json(r.content)
    assert page.model_dump(mode="json") == r.json()  # no extra or missing field, same values after validation
    first = r.json()["bars"][0]
    assert first["timestamp"].endswith("Z") and first["indicators"]["sma20"] is None
    assert set(first) == set(BarPage.model_fields["bars"].annotation.__args__[0].model_fields)
