"""The session views in chromium: equity beside buy-and-hold and drawdown from the session's portfolio
events, open orders, the risk state with its reason, entry/exit marks with their order's purpose, the
predicted next close, the last signal and why, models beside their baselines with intervals and the active
one per symbol, past runs opening their report.html. Checked on the values drawn, not only on presence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.api.conftest import Api, add_event
from tests.dashboard.conftest import Watched, shoot
from tradingmodel.report import write_run_folder
from tradingmodel.store import save_model, save_order

RULES_LONG = {"threshold_long": True, "threshold_short": False, "rsi_long": True, "rsi_short": False, "volume": True}
RULES_NONE = {"threshold_long": False, "threshold_short": False, "rsi_long": True, "rsi_short": False, "volume": True}
SCORE = {"direction_accuracy": 53.1, "direction_accuracy_ci": [50.2, 56.0], "mae": 0.0412, "bars_scored": 812}


def _slice(e: Any, rid: int, t: pd.Timestamp, closes: dict[str, float], equity: float) -> None:
    for sym, close in closes.items():
        bar = {"open": close, "high": close, "low": close, "close": close, "volume": 100, "status": "applied"}
        add_event(e, "bar", bar, run_id=rid, symbol=sym, bar_time=t.to_pydatetime())
    add_event(e, "portfolio", {"equity": equity, "cash": equity, "positions": {}}, run_id=rid, bar_time=t)


@pytest.fixture
def session(server: Api, bars: pd.DataFrame) -> dict[str, Any]:
    """Three slices of a session's events (as the engine logs them), an open order, a model, two runs."""
    e, rid = server.engine, server.run_id  # type: ignore[attr-defined]
    ts = sorted(pd.to_datetime(bars["timestamp"].unique(), utc=True))[-3:]
    t1, t2, t3 = (pd.Timestamp(t) for t in ts)
    order1 = {"client_order_id": "c-1", "side": "buy", "quantity": 10, "purpose": "entry", "status": "new"}
    order2 = {"client_order_id": "c-2", "side": "sell", "quantity": 10, "purpose": "stop_loss", "status": "new"}
    fill1 = {"client_order_id": "c-1", "side": "buy", "quantity": 10, "price": 100.5, "position_after": 10}
    fill2 = {"client_order_id": "c-2", "side": "sell", "quantity": 10, "price": 99.2, "position_after": 0}
    risk = {"status": "halted_for_the_day", "previous": "trading", "equity": 9987.0, "day_loss_pct": 2.13}
    slices = [  # per slice: closes, equity, then (type, data, symbol) events in the engine's order
        (
            t1,
            {"AAA": 100.0, "BBB": 50.0},
            10_000.0,
            [
                ("prediction", {"predicted_close": 101.5, "close": 100.0, "confidence": 0.61}, "AAA"),
                ("signal", {"signal": "long", "rules": RULES_LONG, "decision": "entry", "rejection": None}, "AAA"),
                ("order", order1, "AAA"),
            ],
        ),
        (t2, {"AAA": 102.0, "BBB": 55.0}, 10_015.0, [("fill", fill1, "AAA"), ("order", order2, "AAA")]),
        (
            t3,
            {"AAA": 99.0, "BBB": 45.0},
            9_987.0,
            [
                ("fill", fill2, "AAA"),
                (
                    "signal",
                    {"signal": "long", "rules": RULES_LONG, "decision": "rejected", "rejection": "max_open_positions"},
                    "AAA",
                ),
                ("signal", {"signal": "none", "rules": RULES_NONE, "decision": "none", "rejection": None}, "BBB"),
                ("risk", {**risk, "drawdown_pct": 0.28}, None),
            ],
        ),
    ]
    for t, closes, equity, events in slices:
        _slice(e, rid, t, closes, equity)
        for kind, data, sym in events:
            add_event(e, kind, data, run_id=rid, symbol=sym, bar_time=t)
    add_event(
        e,
        "bar",
        {"close": 1.0, "open": 1.0, "high": 1.0, "low": 1.0, "volume": 1},
        run_id=None,
        symbol="AAA",
        bar_time=t3 + pd.Timedelta(minutes=5),
    )  # another run's past: not drawn
    save_order(e, rid, "c-9", "BBB", "buy", 7, order_type="limit", limit_price=44.5, status="submitted", reason="entry")
    metrics = {
        **SCORE,
        "split": "test",
        "baseline": {**SCORE, "direction_accuracy": 49.0, "direction_accuracy_ci": [46.1, 51.9], "mae": 0.0398},
        "ar_baseline": {**SCORE, "direction_accuracy": 50.5, "direction_accuracy_ci": [47.6, 53.4], "mae": 0.0401},
    }
    old = save_model(e, "older", "/nowhere/older", {"direction_accuracy": 51.0}, symbols=["AAA"])
    mid = save_model(e, "tiny-aaa", "/nowhere/tiny", metrics, symbols=["AAA"])
    equity = pd.DataFrame({"timestamp": ts, "equity": [1e4, 1.01e4, 1.02e4]})
    run = write_run_folder(
        "backtest",
        config=None,
        provenance={"source": "test", "symbols": ["AAA"]},
        equity=equity,
        trading_metrics={
            "total_return_pct": 2.0,
            "maximum_drawdown_pct": 0.4,
            "sharpe_ratio": 1.7,
            "total_trades": 12,
            "win_rate": 58.3,
        },
    )
    return {"t": (t1, t2, t3), "model": mid, "old": old, "run": run.name}


def _js(page: Any, expr: str) -> Any:
    return page.evaluate(expr)


def test_session_portfolio_symbol_model_and_run_views(
    watched: Watched, server: Api, session: dict[str, Any], tmp_path: Path
) -> None:
    page = watched.page
    watched.login()
    page.wait_for_selector("#conn.live", timeout=15_000)
    page.wait_for_function("document.getElementById('equity-chart').data?.[0]?.y.length === 3", timeout=10_000)
    eq = "document.getElementById('equity-chart').data"
    assert _js(page, f"{eq}[0].y") == [10_000.0, 10_015.0, 9_987.0]
    # buy-and-hold: 5,000 in each symbol at its first close of the session (100, 50)
    assert _js(page, f"{eq}[1].y") == pytest.approx([10_000.0, 5_000 * 1.02 + 5_000 * 1.1, 5_000 * 0.99 + 5_000 * 0.9])
    assert _js(page, f"{eq}[2].y") == pytest.approx([0.0, 0.0, 100 * (9_987 / 10_015 - 1)])
    risk = page.inner_text("#risk-state")
    assert "halted for the day" in risk and "daily loss limit: 2.13 %" in risk
    row = page.inner_text("#orders tr[data-order='c-9']")
    assert all(s in row for s in ("BBB", "buy", "7", "limit 44.50", "entry", "submitted"))
    # candles: the entry at 100.50 and the stop-loss exit at 99.20, with their purposes
    ch = "document.getElementById('chart-AAA').data"
    page.wait_for_function(f"{ch}[5].y.length === 1", timeout=5000)
    t1, t2, t3 = session["t"]
    assert _js(page, f"{ch}[4].y") == [100.5] and _js(page, f"{ch}[4].text") == ["buy 10 @ 100.50 (entry)"]
    assert _js(page, f"{ch}[5].y") == [99.2] and _js(page, f"{ch}[5].text") == ["sell 10 @ 99.20 (stop_loss)"]
    assert _js(page, f"{ch}[5].x") == [f"{t3:%Y-%m-%d %H:%M:%S}"]
    # the prediction after t1 is drawn at the next minute
    assert _js(page, f"{ch}[3].x") == [f"{t1 + pd.Timedelta(minutes=1):%Y-%m-%d %H:%M:%S}"]
    assert page.inner_text("[data-symbol=AAA] .prediction").startswith("101.50 for") and "0.61" in page.inner_text(
        "[data-symbol=AAA] .prediction"
    )
    assert "rejected (max_open_positions)" in page.inner_text("[data-symbol=AAA] .last-signal")
    why = page.inner_text("[data-symbol=BBB] .last-signal")
    assert "no entry rule set passed" in why and "threshold ✗" in why
    # another run's past bar is not drawn
    assert _js(page, f"{ch}[0].x.at(-1)") == f"{t3:%Y-%m-%d %H:%M:%S}"
    # models: figures beside both baselines with intervals, the active one per symbol
    mrow = page.inner_text(f"#model-table tr[data-model='{session['model']}']")
    for s in (
        "tiny-aaa",
        "53.1 % [50.2–56.0]",
        "49.0 % [46.1–51.9]",
        "50.5 % [47.6–53.4]",
        "0.0412 / 0.0398 / 0.0401",
        "812 (test)",
    ):
        assert s in mrow, (s, mrow)
    assert page.inner_text(f"#model-table tr[data-model='{session['model']}'] td:nth-child(4)") == "AAA"
    assert page.inner_text(f"#model-table tr[data-model='{session['old']}'] td:nth-child(4)") == "—"
    # past runs: the backtest's figures, the session without a report yet
    page.wait_for_selector(f"#run-table tr[data-run='{session['run']}']", timeout=5000)
    rrow = page.inner_text(f"#run-table tr[data-run='{session['run']}']")
    assert all(s in rrow for s in ("backtest", "2.00", "0.40", "1.70", "12", "58.30"))
    srow = page.inner_text(f"#run-table tr[data-run='db-{server.run_id}']")  # type: ignore[attr-defined]
    assert "running" in srow and "Report" not in srow
    shoot(watched, "views-1366x768", tmp_path)
    # live: a fourth slice extends the equity curve
    _slice(server.engine, server.run_id, t3 + pd.Timedelta(minutes=1), {"AAA": 110.0, "BBB": 50.0}, 10_100.0)  # type: ignore[attr-defined]
    page.wait_for_function(f"{eq}[0].y.length === 4", timeout=1000)
    assert _js(page, f"{eq}[1].y.at(-1)") == pytest.approx(5_000 * 1.1 + 5_000 * 1.0)
    with watched.context.expect_page() as popup_info:
        page.click(f"#run-table tr[data-run='{session['run']}'] button")
    popup = popup_info.value
    popup_requests: list[str] = []
    popup.on("request", lambda r: popup_requests.append(r.url))
    popup.wait_for_load_state()
    assert popup.url.startswith("blob:" + server.base)
    assert session["run"] in popup.content()
    popup.close()
    assert [u for u in popup_requests if not u.startswith(("blob:", "data:", server.base))] == []
    assert watched.errors == []
    assert watched.outside() == []
