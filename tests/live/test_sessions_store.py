"""The session store on SQLite and PostgreSQL: one run per name, a fill delivered twice applied once,
the order state machine enforced, events with increasing ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradingmodel.execution.orders import FillReport, OrderRequest, OrderUpdate
from tradingmodel.store import get_engine
from tradingmodel.store.sessions import EventRow, SessionStore, SliceWrite, open_session
from tradingmodel.store.types import StoreError

T = datetime(2024, 2, 5, 15, 0, tzinfo=UTC)


def test_session_by_name_continues_and_a_fill_twice_is_applied_once(db_url: str) -> None:
    engine = get_engine(db_url)
    info = open_session(engine, "s1", symbols=["AAA"], config_toml="")
    assert not info.resumed
    store = SessionStore(engine, info.run_id)
    order = OrderRequest("tm-entry-x", "AAA", "buy", 10, "market", "entry", T)
    store.commit_slice(SliceWrite(T, b"snap1", 1, orders=[order], events=[EventRow("bar", {"close": 1.0}, "AAA", T)]))
    fill = FillReport("tm-entry-x-f1", "tm-entry-x", "AAA", "buy", 10, 100.0, 0.05, T)
    for _ in range(2):  # delivered twice (a stream replay, a restart): applied once
        store.record_fills([fill], b"snap2", 1, T)
    assert len(store.fills()) == 1
    pos = store.positions()["AAA"]
    assert pos["quantity"] == 10 and pos["avg_price"] == 100.0 and pos["realized_pnl"] == pytest.approx(-0.05)
    assert store.orders()[0]["status"] == "filled"
    store.set_status([OrderUpdate("tm-entry-x", "submitted")])  # stale: never backwards
    assert store.orders()[0]["status"] == "filled"
    ids = [e["id"] for e in store.events()]
    assert ids == sorted(ids) and len(ids) == 3  # bar, fill, order
    again = open_session(engine, "s1", symbols=["AAA"], config_toml="")
    assert again.resumed and again.run_id == info.run_id and again.snapshot == b"snap2"
    with pytest.raises(StoreError, match="session 's1' exists"):
        open_session(engine, "s1", symbols=["AAA", "BBB"], config_toml="")
