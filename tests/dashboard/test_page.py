"""The dashboard in Debian's chromium against a real server: key refused / accepted, candles drawn, a new
event drawn within one second of its commit, bounded charts, phone width, keyboard, no console errors and
no request outside the server."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from tests.api.conftest import Api, add_event, wait_for
from tests.dashboard.conftest import Watched, shoot

N_POINTS = (
    "document.getElementById('chart-AAA') && document.getElementById('chart-AAA').data ? "
    "document.getElementById('chart-AAA').data[0].x.length : 0"
)


def _loaded(w: Watched, n: int) -> None:
    w.page.wait_for_function(f"({N_POINTS}) >= {n}", timeout=15_000)
    w.page.wait_for_selector("#conn.live", timeout=15_000)


def test_wrong_key_is_refused(watched: Watched, tmp_path: Path) -> None:
    watched.login("not-the-key")
    err = watched.page.wait_for_selector("#login-error:has-text('refused')", timeout=10_000)
    assert err.is_visible()
    assert watched.page.is_hidden("#app")
    assert watched.page.evaluate("sessionStorage.length") == 0
    shoot(watched, "wrong-key", tmp_path)
    assert watched.outside() == []


def test_right_key_shows_candles_and_live_events_within_a_second(
    watched: Watched, server: Api, bars: pd.DataFrame, tmp_path: Path
) -> None:
    aaa = bars[bars["symbol"] == "AAA"]
    watched.login()
    _loaded(watched, len(aaa))
    page = watched.page
    assert page.evaluate(N_POINTS) == len(aaa)
    assert page.evaluate("document.getElementById('chart-AAA').data[0].type") == "candlestick"
    assert page.evaluate("document.getElementById('chart-AAA').data[1].y.filter(v => v !== null).length") > 300
    assert page.is_visible("#chart-BBB")
    assert page.evaluate("sessionStorage.length") == 1
    shoot(watched, "main-1366x768", tmp_path)

    last = pd.Timestamp(aaa["timestamp"].max())
    rid = server.run_id  # type: ignore[attr-defined]
    for i in range(1, 4):  # bar, then the model's prediction and a fill on it
        t = last + timedelta(minutes=i)
        eid = add_event(
            server.engine,
            "bar",
            {
                "timestamp": t.isoformat(),
                "open": 100.0,
                "high": 101.0,
                "low": 99.5,
                "close": 100.5 + i,
                "volume": 1234.0,
            },
            run_id=rid,
            symbol="AAA",
            bar_time=t.to_pydatetime(),
        )
        committed = time.time()  # the insert's transaction has committed; the page records time on this clock
        page.wait_for_function(f"window.dashboard.drawn.has({eid})", timeout=10_000, polling="raf")
        late_ms = page.evaluate(f"window.dashboard.drawn.get({eid})") - committed * 1000
        assert late_ms < 1000, f"bar {eid} drawn {late_ms:.0f} ms after its commit (load {os.getloadavg()[0]:.1f})"
        assert page.evaluate(N_POINTS) == len(aaa) + i
        assert page.is_visible(f"#event-log li[data-id='{eid}']")
    assert page.evaluate("document.getElementById('chart-AAA').data[0].close.at(-1)") == 103.5
    add_event(
        server.engine, "prediction", {"predicted_close": 104.0}, run_id=rid, symbol="AAA", bar_time=t.to_pydatetime()
    )
    add_event(
        server.engine,
        "signal",
        {"decision": "none", "reason": "confidence 0.51 below 0.55"},
        run_id=rid,
        symbol="AAA",
        bar_time=t.to_pydatetime(),
    )
    fid = add_event(
        server.engine, "fill", {"price": 103.4, "side": "buy"}, run_id=rid, symbol="AAA", bar_time=t.to_pydatetime()
    )
    page.wait_for_function(f"window.dashboard.drawn.has({fid})", timeout=1000)
    assert page.evaluate("document.getElementById('chart-AAA').data[3].y") == [104.0]
    assert page.evaluate("document.getElementById('chart-AAA').data[4].y") == [103.4]
    assert "below 0.55" in page.inner_text("[data-symbol=AAA] .last-signal")
    assert "104.00 for" in page.inner_text("[data-symbol=AAA] .prediction")
    shoot(watched, "live-events", tmp_path)
    assert watched.errors == []
    assert watched.outside() == []


def test_charts_keep_a_bounded_number_of_points(watched: Watched, server: Api, bars: pd.DataFrame) -> None:
    watched.login(query="?max_points=100")
    _loaded(watched, 100)
    last = pd.Timestamp(bars["timestamp"].max())
    for i in range(1, 31):
        t = last + timedelta(minutes=i)
        add_event(
            server.engine,
            "bar",
            {"timestamp": t.isoformat(), "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
            symbol="AAA",
            bar_time=t.to_pydatetime(),
        )
    last_x = "document.getElementById('chart-AAA').data[0].x.at(-1)"
    wait_for(lambda: watched.page.evaluate(last_x) == f"{t:%Y-%m-%d %H:%M:%S}", 5, what="the 30th live bar drawn")
    # the newest points are the page's last bars and the 30 live ones, in order
    assert watched.page.evaluate("document.getElementById('chart-AAA').data[0].x.at(-31)") == "2024-01-02 20:59:00"
    assert watched.page.evaluate(N_POINTS) == 100
    assert watched.page.evaluate("document.getElementById('chart-AAA').data[2].y.length") == 100
    assert watched.errors == []


def test_phone_width_and_keyboard(browser: object, server: Api, bars: pd.DataFrame, tmp_path: Path) -> None:
    w = Watched(browser, server.base, width=390, height=844)
    try:
        w.page.goto(server.base + "/")
        w.page.keyboard.press("Tab")  # header's first focusable is hidden until login: the key field
        assert w.page.evaluate("document.activeElement.id") == "key"
        w.page.keyboard.type("test-key-0123456789")
        w.page.keyboard.press("Enter")
        _loaded(w, len(bars[bars["symbol"] == "AAA"]))
        assert w.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        w.page.focus("#train-symbols")
        w.page.keyboard.press("Tab")
        assert w.page.evaluate("document.activeElement.id") == "train-epochs"
        shoot(w, "phone-390", tmp_path)
        assert w.errors == [] and w.outside() == []
    finally:
        w.close()
