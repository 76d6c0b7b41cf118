"""History download through the official ``massive`` client against the fake Polygon server."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradingmodel.data.polygon import (
    FetchPolicy,
    PolygonAuthError,
    PolygonNotFoundError,
    PolygonPlanError,
    PolygonUnavailableError,
    fetch_history,
)
from tradingmodel.data.polygon.history import missing_ranges
from tradingmodel.store import fetched_ranges, get_engine, load_bars

from .support import API_KEY

START, END = date(2024, 1, 1), date(2024, 1, 10)
COLS = ["symbol", "timestamp", "open", "high", "low", "close", "volume"]


class Sleeps:
    """Injectable sleep: records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path / 'polygon.db'}")


def policy(sl: Sleeps | None = None, **kw) -> FetchPolicy:
    sl = sl or Sleeps()
    return FetchPolicy(sleep=sl.sleep, clock=sl.clock, **kw)


def assert_same_bars(engine, bars: pd.DataFrame, symbols=("AAPL", "MSFT")) -> None:
    got = load_bars(engine, list(symbols), timeframe="1m")
    want = bars[bars["symbol"].isin(symbols)]
    assert len(got) == len(want)
    assert not got.duplicated(["symbol", "timestamp"]).any()
    g, w = got[COLS].reset_index(drop=True), want[COLS].reset_index(drop=True)
    assert (g["symbol"].to_numpy() == w["symbol"].to_numpy()).all()
    assert (g["timestamp"].to_numpy() == w["timestamp"].dt.as_unit(g["timestamp"].dt.unit).to_numpy()).all()
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(g[c].to_numpy(), w[c].to_numpy(), rtol=1e-12, err_msg=c)


def test_missing_ranges() -> None:
    assert missing_ranges(0, 100, []) == [(0, 100)]
    assert missing_ranges(0, 100, [(10, 20), (15, 30), (90, 200)]) == [(0, 10), (30, 90)]
    assert missing_ranges(0, 100, [(-5, 100)]) == []
    assert missing_ranges(50, 60, [(0, 10), (70, 80)]) == [(50, 60)]


def test_multi_page_fetch_stores_every_bar_once(fake, bars, engine) -> None:
    fake.page_size = 250  # 1,170 bars per symbol -> 5 pages each
    reps = fetch_history(
        engine, ["AAPL", "MSFT"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy(commit_every=400)
    )
    assert [r.bars for r in reps] == [1170, 1170]
    assert [r.requests for r in reps] == [5, 5]
    assert_same_bars(engine, bars)
    # every page after the first followed a next_url (cursor), never the start again
    paths = [p for p, _ in fake.requests]
    assert sum("cursor=" in p for p in paths) == 8
    # a second run finds everything stored and sends no request
    before = fake.rest_request_count()
    reps = fetch_history(engine, ["AAPL", "MSFT"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert fake.rest_request_count() == before
    assert [r.bars for r in reps] == [0, 0] and all(r.missing_ms == 0 for r in reps)
    assert_same_bars(engine, bars)


def test_extending_the_range_fetches_only_the_new_part(fake, bars, engine) -> None:
    fetch_history(
        engine, ["AAPL"], date(2024, 1, 2), date(2024, 1, 2), api_key=API_KEY, base_url=fake.base_url, policy=policy()
    )
    assert len(load_bars(engine, ["AAPL"], timeframe="1m")) == 390
    n0 = fake.rest_request_count()
    rep = fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())[0]
    assert rep.bars == 780 and rep.skipped_ms == 86_400_000
    # two missing pieces (before and after Jan 2) -> two requests
    assert fake.rest_request_count() - n0 == 2
    assert_same_bars(engine, bars, ("AAPL",))


@pytest.mark.parametrize("retry_after", [None, "2"])
def test_429_burst_is_survived(fake, bars, engine, retry_after) -> None:
    fake.page_size = 500
    fake.fail_next(429, 3, retry_after=retry_after)
    sl = Sleeps()
    fetch_history(
        engine,
        ["AAPL", "MSFT"],
        START,
        END,
        api_key=API_KEY,
        base_url=fake.base_url,
        policy=policy(sl, backoff_base=1.0),
    )
    assert_same_bars(engine, bars)
    assert sum(s == 429 for _, s in fake.requests) == 3
    # exponential backoff (0.5, 1, 2 s) or the server's Retry-After (2 s each)
    assert sl.waits == ([0.5, 1.0, 2.0] if retry_after is None else [2.0, 2.0, 2.0])


def test_503_is_survived_and_retry_after_is_capped(fake, bars, engine) -> None:
    fake.fail_next(503, 1)
    fake.fail_next(429, 1, retry_after="3600")
    fake.fail_next(429, 1, retry_after="soon")
    sl = Sleeps()
    fetch_history(
        engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy(sl, backoff_max=7.0)
    )
    assert_same_bars(engine, bars, ("AAPL",))
    # the hour-long Retry-After is capped at backoff_max; a malformed one falls back to backoff (2 s)
    assert sl.waits == [0.5, 7.0, 2.0]


def test_retry_budget_is_bounded(fake, engine) -> None:
    fake.fail_next(429, 50, retry_after="30")
    sl = Sleeps()
    with pytest.raises(PolygonUnavailableError, match="retry budget"):
        fetch_history(
            engine,
            ["AAPL"],
            START,
            END,
            api_key=API_KEY,
            base_url=fake.base_url,
            policy=policy(sl, max_retries=20, max_total_wait=100.0),
        )
    assert sum(sl.waits) <= 100.0 and len(sl.waits) == 3


def test_retries_exhausted_then_rerun_resumes(fake, bars, engine) -> None:
    fake.page_size = 300
    pol = policy(max_retries=2, commit_every=300)
    # first page succeeds, then the server fails more often than the retries allow
    state = {"n": 0}

    def progress(symbol, done, total, stored):
        state["n"] += 1
        if stored and not fake._failures:
            fake.fail_next(500, 10)

    with pytest.raises(PolygonUnavailableError, match="run the same command again"):
        fetch_history(
            engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=pol, progress=progress
        )
    stored = load_bars(engine, ["AAPL"], timeframe="1m")
    assert 0 < len(stored) < 1170
    with fake.lock:
        fake._failures.clear()
    first_new = len(fake.requests)
    fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert_same_bars(engine, bars, ("AAPL",))
    # the rerun started after the last stored bar, not at the beginning of the range
    resumed_from = int(fake.requests[first_new][0].split("/")[-2])
    assert resumed_from == int(stored["timestamp"].iloc[-1].value // 10**6) + 1


def test_non_json_page_is_not_taken_for_the_end_of_the_range(fake, bars, engine) -> None:
    # a 200 whose body is not JSON (a proxy's HTML page) ends massive's listing quietly: the rest of
    # the range must not be marked fetched without its bars
    fake.page_size = 300
    pol = policy(max_retries=0, commit_every=300)

    def progress(symbol, done, total, stored):
        if stored and not fake._failures:
            fake.fail_next(200, body="<html><body>Bad gateway</body></html>")

    with pytest.raises(PolygonUnavailableError, match="not JSON"):
        fetch_history(
            engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=pol, progress=progress
        )
    stored = load_bars(engine, ["AAPL"], timeframe="1m")
    assert 0 < len(stored) < 1170
    ranges = fetched_ranges(engine, "AAPL", "1m")
    assert len(ranges) == 1 and ranges[0][1] == stored["timestamp"].iloc[-1] + pd.Timedelta(milliseconds=1)
    reps = fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert reps[0].bars == 1170 - len(stored)
    assert_same_bars(engine, bars, ("AAPL",))


def test_interrupted_fetch_resumes_without_duplicates_or_gaps(fake, bars, engine) -> None:
    fake.page_size = 200

    def interrupt(symbol, done, total, stored):
        if symbol == "MSFT" and stored >= 400:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_history(
            engine,
            ["AAPL", "MSFT"],
            START,
            END,
            api_key=API_KEY,
            base_url=fake.base_url,
            policy=policy(commit_every=200),
            progress=interrupt,
        )
    assert len(load_bars(engine, ["AAPL"], timeframe="1m")) == 1170
    partial = load_bars(engine, ["MSFT"], timeframe="1m")
    assert 400 <= len(partial) < 1170
    ranges = fetched_ranges(engine, "MSFT", "1m")
    assert len(ranges) == 1 and ranges[0][1] == partial["timestamp"].iloc[-1] + pd.Timedelta(milliseconds=1)
    reps = fetch_history(engine, ["AAPL", "MSFT"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert [r.bars for r in reps] == [0, 1170 - len(partial)]
    assert_same_bars(engine, bars)


def test_bad_key_says_what_to_do(fake, engine) -> None:
    with pytest.raises(PolygonAuthError, match="Unknown API Key.*POLYGON_API_KEY"):
        fetch_history(engine, ["AAPL"], START, END, api_key="wrong", base_url=fake.base_url, policy=policy())
    with pytest.raises(PolygonAuthError, match="POLYGON_API_KEY"):
        fetch_history(engine, ["AAPL"], START, END, api_key="", base_url=fake.base_url, policy=policy())


def test_unknown_ticker_and_plan_limits_say_what_to_do(fake, engine) -> None:
    with pytest.raises(PolygonNotFoundError, match="ZZZZ: unknown ticker .*Ticker not found.*Check the symbol"):
        fetch_history(engine, ["ZZZZ"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    fake.plan_start_ms = int(pd.Timestamp("2024-01-05", tz="UTC").value // 10**6)
    with pytest.raises(PolygonPlanError, match="plan does not cover .*later --from"):
        fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert load_bars(engine, ["AAPL", "ZZZZ"], timeframe="1m").empty


def test_repeating_next_url_stops_paging(fake, engine) -> None:
    fake.page_size = 100
    fake.repeat_next_url = True
    rep = fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())[0]
    assert rep.requests == 2 and rep.bars == 100  # the second request saw the same URL again and stopped
    assert "repeated a next_url" in rep.warnings[0]
    assert len(load_bars(engine, ["AAPL"], timeframe="1m")) == 100


def test_a_cursor_that_never_advances_stops_paging(fake, engine) -> None:
    fake.page_size = 100
    fake.stuck_cursor = True  # every next_url is new, but serves the first page again
    rep = fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())[0]
    assert rep.requests == 3 and rep.bars == 100  # a second page of old bars proves the loop; stop after it
    assert "pagination is not advancing" in rep.warnings[0]
    assert len(load_bars(engine, ["AAPL"], timeframe="1m")) == 100


def test_free_plan_rate_limit_spaces_requests(fake, bars, engine) -> None:
    fake.page_size = 100  # 12 pages
    sl = Sleeps()
    fetch_history(
        engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy(sl, requests_per_minute=5)
    )
    assert_same_bars(engine, bars, ("AAPL",))
    assert len(fake.requests) == 12
    # requests 6..10 wait for the first minute to pass, 11..12 for the second
    assert sl.now == pytest.approx(120.0)


def test_daily_bars_on_new_york_midnight(fake, bars, engine) -> None:
    fetch_history(
        engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, timespan="day", policy=policy()
    )
    daily = load_bars(engine, ["AAPL"], timeframe="1d")
    src = bars[bars["symbol"] == "AAPL"]
    day = src["timestamp"].dt.tz_convert("America/New_York").dt.date
    assert len(daily) == day.nunique() == 3
    assert list(daily["timestamp"].dt.tz_convert("America/New_York").dt.hour) == [0, 0, 0]
    np.testing.assert_allclose(daily["volume"], src.groupby(day)["volume"].sum().to_numpy())
    np.testing.assert_allclose(daily["close"], src.groupby(day)["close"].last().to_numpy())


def test_five_minute_bars_use_their_own_timeframe(fake, bars, engine) -> None:
    rep = fetch_history(
        engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, multiplier=5, policy=policy()
    )[0]
    assert rep.timeframe == "5m" and rep.bars == 1170 // 5
    five = load_bars(engine, ["AAPL"], timeframe="5m")
    src = bars[bars["symbol"] == "AAPL"].reset_index(drop=True)
    np.testing.assert_allclose(five["volume"], src["volume"].to_numpy().reshape(-1, 5).sum(axis=1))
    np.testing.assert_allclose(five["high"], src["high"].to_numpy().reshape(-1, 5).max(axis=1))
    assert load_bars(engine, ["AAPL"], timeframe="1m").empty and fetched_ranges(engine, "AAPL", "1m") == []


def test_recent_bars_are_stored_but_refetched_until_settled(fake, bars, engine) -> None:
    """Fetching 'today': bars of the last 15 minutes may still change, so their range stays open."""
    now = pd.Timestamp("2024-01-03 20:00:30", tz="UTC")  # 15:00:30 New York, during the session
    pol = policy(now=lambda: now.timestamp())
    fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=pol)
    assert_same_bars(engine, bars, ("AAPL",))
    lo = pd.Timestamp("2024-01-01 05:00", tz="UTC")  # 2024-01-01 00:00 New York
    assert fetched_ranges(engine, "AAPL", "1m") == [(lo, pd.Timestamp("2024-01-03 19:45", tz="UTC"))]
    n0 = fake.rest_request_count()
    rep = fetch_history(engine, ["AAPL"], START, END, api_key=API_KEY, base_url=fake.base_url, policy=policy())
    assert fake.rest_request_count() - n0 == 1 and rep[0].bars == 390 - 315 + 390  # 19:45 Jan 3 onwards
    assert fetched_ranges(engine, "AAPL", "1m") == [(lo, pd.Timestamp("2024-01-11 05:00", tz="UTC"))]
    assert_same_bars(engine, bars, ("AAPL",))


def test_todays_daily_bar_is_refetched() -> None:
    from tradingmodel.data.polygon.wire import window_start

    t = int(pd.Timestamp("2024-07-03 18:00", tz="UTC").value // 10**6)
    assert window_start(t, 1, "day") == int(pd.Timestamp("2024-07-03 04:00", tz="UTC").value // 10**6)
    assert window_start(t + 59_999, 1, "minute") == t and window_start(t + 1, 1, "hour") == t
    assert window_start(t + 7 * 60_000, 5, "minute") == t + 5 * 60_000
