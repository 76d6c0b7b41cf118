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


def test_events_read_back_as_written_with_their_ids_on_both_dialects(db_url: str) -> None:
    """The slice writer's events (a raw executemany on SQLite) read back through the ORM types as given:
    aware UTC bar times, JSON data with NaN/inf stored as null and numpy scalars as numbers, and the ids
    handed back are the stored rows' ids, in order (on PostgreSQL from one INSERT ... SELECT FROM unnest)."""
    import numpy as np
    import pandas as pd

    engine = get_engine(db_url)
    a = SessionStore(engine, open_session(engine, "ev-a", symbols=["AAA"], config_toml="").run_id)
    b = SessionStore(engine, open_session(engine, "ev-b", symbols=["AAA"], config_toml="").run_id)
    T2 = datetime(2024, 2, 5, 15, 1, tzinfo=UTC)
    written = []
    for k in range(3):  # two sessions interleaved in one database: ids stay each run's own
        rows = [
            EventRow("bar", {"close": 1.5 + k, "n": [1, 2], "deep": {"x": "é"}}, "AAA", T),
            EventRow(
                "prediction", {"conf": float("nan"), "z": np.float64(0.25), "i": np.int64(3)}, "AAA", pd.Timestamp(T2)
            ),
            EventRow("portfolio", {"equity": float("inf"), 7: True}, None, None),
        ]
        written += a.append_events(rows)
        b.append_events([EventRow("bar", {"close": 0.0}, "AAA", T)])
    got = a.events()
    assert [e["id"] for e in got] == [e.id for e in written] and [e.id for e in written] == sorted(
        e.id for e in written
    )
    assert {e["id"] for e in got}.isdisjoint(e["id"] for e in b.events())
    assert got[0]["data"] == {"close": 1.5, "n": [1, 2], "deep": {"x": "é"}} and got[0]["bar_time"] == T
    assert got[1]["data"] == {"conf": None, "z": 0.25, "i": 3} and got[1]["bar_time"] == T2
    assert got[2]["data"] == {"equity": None, "7": True} and got[2]["bar_time"] is None and got[2]["symbol"] is None
    assert got[1]["created_at"].tzinfo is not None


def test_the_engine_checkpoint_keeps_the_wal_below_sqlites_own_threshold(tmp_path) -> None:
    """checkpoint() after each slice copies the log often enough that SQLite's automatic checkpoint (at 1,000
    pages) never comes due inside a commit; its interval adapts to the pages a slice writes."""
    db = tmp_path / "ck.db"
    engine = get_engine(f"sqlite:///{db}")
    store = SessionStore(engine, open_session(engine, "ck", symbols=["AAA"], config_toml="").run_id)
    ran = 0
    for k in range(600):
        store.append_events([EventRow("bar", {"pad": "x" * 3000, "k": k}, "AAA", T)] * 3)  # ~3 pages a call
        ran += store.checkpoint()
    assert ran >= 5 and store._every > 8  # it adapted: 3 pages a call -> ~80 calls between checkpoints
    # a checkpointed log is reused from its start, so the file's size is the most pages it ever held
    page = 4096 + 24
    assert (db.parent / "ck.db-wal").stat().st_size < 500 * page < 1000 * page
    assert len(store.events()) == 1800  # nothing lost by the checkpoints


def test_checkpoint_is_a_no_op_without_a_sqlite_file(db_url: str) -> None:
    engine = get_engine(db_url if db_url.startswith("postgresql") else "sqlite:///:memory:")
    store = SessionStore(engine, open_session(engine, "ck0", symbols=["AAA"], config_toml="").run_id)
    assert not any(store.checkpoint() for _ in range(50))


def test_order_rows_keep_their_defaults_and_a_status_change_keeps_what_it_does_not_name(db_url: str) -> None:
    """The writer's prebuilt statements: an order without a type is a market order with nothing filled; a
    status change without a broker id or message keeps the stored ones; fills move filled quantity, status
    and the position (a short closed at a profit, net of both commissions)."""
    engine = get_engine(db_url)
    store = SessionStore(engine, open_session(engine, "s-sql", symbols=["AAA"], config_toml="").run_id)
    order = OrderRequest("tm-e", "AAA", "sell", 10, "", "entry", T)
    store.commit_slice(SliceWrite(T, b"s", 1, orders=[order]))
    (row,) = store.orders()
    assert (row["order_type"], row["filled_quantity"], row["status"], row["message"]) == ("market", 0.0, "new", None)
    store.set_status([OrderUpdate("tm-e", "submitted", broker_order_id="B-1", message="accepted")])
    store.set_status([OrderUpdate("tm-e", "partially_filled")])
    (row,) = store.orders()
    assert (row["status"], row["broker_order_id"], row["message"]) == ("partially_filled", "B-1", "accepted")
    store.record_fills([FillReport("f1", "tm-e", "AAA", "sell", 4, 100.0, 0.5, T)], b"s", 1, T)
    store.record_fills([FillReport("f2", "tm-e", "AAA", "sell", 6, 100.0, 0.5, T)], b"s", 1, T)
    (row,) = store.orders()
    assert (row["status"], row["filled_quantity"]) == ("filled", 10.0)
    exit_ = OrderRequest("tm-x", "AAA", "buy", 10, "market", "take_profit", T)
    store.commit_slice(SliceWrite(T, b"s", 1, orders=[exit_]))
    store.record_fills([FillReport("f3", "tm-x", "AAA", "buy", 10, 90.0, 1.0, T)], b"s", 1, T)
    pos = store.positions()["AAA"]
    assert pos["quantity"] == 0.0 and pos["realized_pnl"] == pytest.approx(10 * 10.0 - 2.0)


def test_a_prepared_statement_names_a_missing_parameter_and_writes_nothing(tmp_path) -> None:
    """The writer's statements on SQLite go to the driver with every column given: a missing one is named
    (not stored as NULL or a default), inside the transaction, which then rolls back."""
    from tradingmodel.store import session_sql as Q
    from tradingmodel.store.ingest import write_transaction

    engine = get_engine(f"sqlite:///{tmp_path}/p.db")
    run_id = open_session(engine, "s-p", symbols=["AAA"], config_toml="").run_id
    store = SessionStore(engine, run_id)
    row = {"run_id": run_id, "symbol": "AAA", "quantity": 1.0, "avg_price": 10.0, "realized_pnl": 0.0}
    with pytest.raises(KeyError, match="'updated_at' not given"), write_transaction(engine) as conn:
        Q.INSERT_POSITION.run(
            conn,
            {
                "run_id": run_id,
                "symbol": "BBB",
                "quantity": 2.0,
                "avg_price": 1.0,
                "realized_pnl": 0.0,
                "updated_at": T,
            },
        )
        Q.INSERT_POSITION.run(conn, row)
    assert store.positions() == {}


def test_prediction_rows_read_back_as_written_and_an_upsert_replaces_them(db_url: str, monkeypatch) -> None:
    """A slice's prediction rows (on PostgreSQL one statement through a JSON array) read back bit for bit,
    with their signals; the same keys again replace price, confidence and signals; a non-finite price (which
    JSON cannot carry) is written the row-by-row way."""
    from sqlalchemy import select

    from tradingmodel.store import session_sql
    from tradingmodel.store.repos import save_model
    from tradingmodel.store.schema import Prediction

    took: list[bool] = []  # which way each PostgreSQL slice went: True = the one-statement JSON array
    one_statement = session_sql.pg_predictions
    monkeypatch.setattr(session_sql, "pg_predictions", lambda c, r: took.append(one_statement(c, r)) or took[-1])
    engine = get_engine(db_url)
    model_id = save_model(engine, "m", f"/tmp/model-{db_url[:5]}", {})
    store = SessionStore(engine, open_session(engine, "pred", symbols=["AAA", "BBB"], config_toml="").run_id)
    created = datetime(2024, 2, 5, 15, 0, 1, 123456, tzinfo=UTC)

    def row(sym: str, price: float, conf: float | None, sig: dict) -> dict:
        return {
            "model_id": model_id,
            "symbol": sym,
            "timeframe": "1m",
            "horizon": 1,
            "timestamp": T,
            "predicted_price": price,
            "confidence": conf,
            "signals": sig,
            "created_at": created,
        }

    def stored() -> dict:
        with engine.connect() as conn:
            t = Prediction.__table__
            got = conn.execute(select(t).where(t.c.model_id == model_id)).mappings().all()
            return {
                p["symbol"]: (p["predicted_price"], p["confidence"], p["signals"], p["timestamp"], p["created_at"])
                for p in got
            }

    first = [row("AAA", 101.23456789012345, 0.6180339887498949, {"rules": {"rsi": True}, "decision": None})]
    first.append(row("BBB", 0.1 + 0.2, None, {"rejection": "volume", "x": [1, 2.5]}))
    store.commit_slice(SliceWrite(T, b"s", 1, predictions=first))
    got = stored()
    assert got["AAA"] == (
        101.23456789012345,
        0.6180339887498949,
        {"rules": {"rsi": True}, "decision": None},
        T,
        created,
    )
    assert got["BBB"] == (0.1 + 0.2, None, {"rejection": "volume", "x": [1, 2.5]}, T, created)
    again = [row("AAA", 99.5, 0.25, {"decision": "entry"}), row("BBB", float("inf"), None, {})]
    store.commit_slice(SliceWrite(T, b"s", 1, predictions=again))
    got = stored()
    assert got["AAA"][:3] == (99.5, 0.25, {"decision": "entry"}) and got["BBB"][:3] == (float("inf"), None, {})
    assert took == ([True, False] if engine.dialect.name == "postgresql" else [])
