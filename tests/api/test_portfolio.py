"""GET /api/v1/portfolio: a flat book before any session; a session's cash, equity, positions, open orders,
realised PnL and risk state from the money tables and events the live engine writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, update

from tests.api.conftest import Api, add_event
from tradingmodel.store import save_fill, save_order, save_position, save_run_row
from tradingmodel.store.schema import Run

T0 = datetime(2024, 1, 2, 14, 31, tzinfo=UTC)


def _session(engine: Engine, name: str, status: str = "running", deposit: float = 50_000.0) -> int:
    rid = save_run_row(
        engine, "paper", f"[trading]\ndeposit = {deposit}\n", {}, None, symbols=["AAA", "BBB"], status=status
    )
    with engine.begin() as conn:
        conn.execute(update(Run.__table__).where(Run.__table__.c.id == rid).values(name=name))
    return rid


def test_flat_book_on_the_deposit_without_a_session(api: Api) -> None:
    r = api.client.get("/api/v1/portfolio")
    assert r.status_code == 200
    b = r.json()
    assert b["session"] is None
    assert b["cash"] == b["equity"] == b["deposit"] == 10_000.0
    assert b["positions"] == [] and b["open_orders"] == [] and b["realized_pnl"] == 0.0


def test_book_of_a_running_session(api: Api) -> None:
    e = api.engine
    _session(e, "older", status="finished")
    rid = _session(e, "today")
    buy = save_order(e, rid, "c-1", "AAA", "buy", 10, status="filled", reason="entry")
    save_fill(e, buy, "AAA", "buy", 10, 100.0, 1.0, T0)
    sell = save_order(e, rid, "c-2", "BBB", "sell", 5, status="filled", reason="entry")
    save_fill(e, sell, "BBB", "sell", 5, 200.0, 0.5, T0)
    save_order(
        e, rid, "c-3", "AAA", "sell", 10, order_type="stop", stop_price=99.5, status="submitted", reason="stop_loss"
    )
    save_order(e, rid, "c-4", "BBB", "buy", 1, status="canceled")
    save_position(e, rid, "AAA", 10, 100.0)
    save_position(e, rid, "BBB", -5, 200.0)
    save_position(e, rid, "CCC", 0, 50.0, realized_pnl=12.5)  # closed earlier
    add_event(e, "bar", {"close": 101.0}, run_id=rid, symbol="AAA", bar_time=T0)
    add_event(e, "bar", {"close": 103.0}, run_id=rid, symbol="AAA", bar_time=T0)  # the newest counts
    add_event(e, "bar", {"close": 190.0}, run_id=rid, symbol="BBB", bar_time=T0)
    add_event(e, "risk", {"halted": False, "daily_pnl": -3.0}, run_id=rid)

    b = api.client.get("/api/v1/portfolio").json()
    assert b["session"]["id"] == rid and b["session"]["name"] == "today" and b["session"]["status"] == "running"
    assert b["deposit"] == 50_000.0
    cash = 50_000.0 - 10 * 100.0 + 5 * 200.0 - 1.5
    assert b["cash"] == pytest.approx(cash)
    assert b["equity"] == pytest.approx(cash + 10 * 103.0 - 5 * 190.0)
    pos = {p["symbol"]: p for p in b["positions"]}
    assert set(pos) == {"AAA", "BBB"}
    assert pos["AAA"]["unrealized_pnl"] == pytest.approx(30.0) and pos["BBB"]["unrealized_pnl"] == pytest.approx(50.0)
    assert b["unrealized_pnl"] == pytest.approx(80.0) and b["realized_pnl"] == pytest.approx(12.5)
    assert [o["client_order_id"] for o in b["open_orders"]] == ["c-3"]
    assert b["risk"] == {"halted": False, "daily_pnl": -3.0}

    older = api.client.get("/api/v1/portfolio", params={"session": "older"}).json()
    assert older["session"]["name"] == "older" and older["cash"] == 50_000.0


def test_unknown_session_is_404(api: Api) -> None:
    r = api.client.get("/api/v1/portfolio", params={"session": "nope"})
    assert r.status_code == 404 and "no paper or live session named 'nope'" in r.json()["detail"]
