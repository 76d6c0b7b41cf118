"""After the server is stopped the page shows "reconnecting", and once a server is back on the same port it
resumes with ``?since=`` by itself: an event committed while it was down is drawn, none is missed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tests.api.conftest import KEY, ThreadServer, add_event, wait_for
from tests.dashboard.conftest import Watched, shoot
from tradingmodel.api import ApiConfig, create_app
from tradingmodel.data import simulate
from tradingmodel.store import get_engine, ingest_bars


def _server(url: str, tmp: Path, port: int | None = None) -> ThreadServer:
    app = create_app(
        ApiConfig(database_url=url, api_keys=[KEY], models_dir=tmp / "models", workers=0, heartbeat_s=0.5, poll_s=0.05)
    )
    srv = ThreadServer(app)
    if port is not None:
        srv.port = srv.server.config.port = port
    return srv.__enter__()


def test_page_reconnects_after_a_server_restart_without_a_gap(browser: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    bars = simulate(["AAA"], 1, seed=2)
    first = _server(url, tmp_path)
    engine = get_engine(url)
    ingest_bars(engine, bars)
    w = Watched(browser, f"http://127.0.0.1:{first.port}")
    try:
        w.login()
        w.page.wait_for_selector("#conn.live", timeout=15_000)
        w.page.fill("#symbol", "aaa")  # no session or model names a symbol here: add it with the form
        w.page.press("#symbol", "Enter")
        w.page.wait_for_function(f"document.getElementById('chart-AAA')?.data?.[0]?.x.length === {len(bars)}")
        first.__exit__()
        w.page.wait_for_selector("#conn.reconnecting", timeout=10_000)
        shoot(w, "reconnecting", tmp_path)
        t = pd.Timestamp(bars["timestamp"].max()) + timedelta(minutes=1)
        down = add_event(
            engine,
            "bar",
            {"timestamp": t.isoformat(), "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1},
            symbol="AAA",
            bar_time=t.to_pydatetime(),
        )
        second = _server(url, tmp_path, first.port)
        try:
            w.page.wait_for_selector("#conn.live", timeout=15_000)
            after = add_event(engine, "fill", {"price": 1.0}, symbol="AAA", bar_time=t.to_pydatetime())
            w.page.wait_for_selector(f"#event-log li[data-id='{after}']", timeout=5000)
            ids = w.page.eval_on_selector_all("#event-log li", "els => els.map(e => Number(e.dataset.id))")
            assert ids == [after, down]  # the one committed while down, then the live one: no gap
            wait_for(
                lambda: w.page.evaluate("document.getElementById('chart-AAA').data[0].x.length") == len(bars) + 1,
                5,
                what="the bar committed while the server was down",
            )
        finally:
            second.__exit__()
        # the browser logs its failed reconnect attempts; anything else is a defect
        assert [e for e in w.errors if "WebSocket connection" not in e and "Failed to load" not in e] == []
        assert w.outside() == []
    finally:
        w.close()
