"""The paper executor's book file: the open orders of a slice come from one indexed query."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pandas as pd

from tradingmodel.config import TradingConfig
from tradingmodel.execution.orders import OrderRequest
from tradingmodel.execution.paper import PaperExecutor

T0 = pd.Timestamp("2024-02-05 15:00", tz="UTC")


def test_a_book_file_gets_the_open_orders_index_and_orders_fill_per_symbol_in_order(tmp_path: Path) -> None:
    """A book file from before the index gets it on open, the open-orders query uses it, and market entries
    of several symbols (two for one symbol) fill at their next bar's open in the order they were sent."""
    path = tmp_path / "broker.db"
    old = sqlite3.connect(path)  # the schema of an earlier version: no index on open orders
    old.executescript(
        "CREATE TABLE book (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
        "CREATE TABLE orders (cid TEXT PRIMARY KEY, symbol TEXT NOT NULL, open INTEGER NOT NULL, v TEXT NOT NULL);"
        "CREATE TABLE fills (fill_id TEXT PRIMARY KEY, ts TEXT NOT NULL, v TEXT NOT NULL);"
    )
    old.close()
    ex = PaperExecutor(TradingConfig(slippage_bps=0.0, commission_per_share=0.0, commission_bps=0.0), path)
    plan = ex.db.execute("EXPLAIN QUERY PLAN SELECT symbol, v FROM orders WHERE open = 1 ORDER BY rowid").fetchall()
    assert "orders_open" in str(plan)
    ex.on_slice(T0, [("AAA", 10.0, 10.0, 10.0, 10.0), ("BBB", 20.0, 20.0, 20.0, 20.0), ("CCC", 5.0, 5.0, 5.0, 5.0)])
    # AAA: an entry, then its exit (which only fills after the entry); BBB and CCC: entries, CCC's sent first
    sent = [("c1", "CCC", "buy", 3.0, "entry"), ("a1", "AAA", "buy", 1.0, "entry"), ("b1", "BBB", "buy", 2.0, "entry")]
    sent.append(("a2", "AAA", "sell", 1.0, "time_exit"))
    for cid, sym, side, qty, purpose in sent:
        asyncio.run(ex.submit(OrderRequest(cid, sym, side, qty, "market", purpose, T0.to_pydatetime())))
    t1 = T0 + pd.Timedelta(minutes=1)
    rows = [("AAA", 11.0, 11.0, 11.0, 11.0), ("BBB", 21.0, 21.0, 21.0, 21.0), ("CCC", 6.0, 6.0, 6.0, 6.0)]
    fills = ex.on_slice(t1, rows)
    assert [(f.client_order_id, f.side, f.price, f.quantity) for f in fills] == [
        ("a1", "buy", 11.0, 1.0),
        ("a2", "sell", 11.0, 1.0),
        ("b1", "buy", 21.0, 2.0),
        ("c1", "buy", 6.0, 3.0),
    ]
    assert set(asyncio.run(ex.positions())) == {"BBB", "CCC"}
    assert ex.on_slice(t1, rows) == fills  # the same slice again: the same fills, none twice
