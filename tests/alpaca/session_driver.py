"""A replay session through the AlpacaExecutor, standing in for the live engine (issue 11) until it lands.

It keeps the engine's persistence order in its own SQLite journal: a decision is committed (status ``new``)
before it is sent; a fill is applied once (``fill_id`` primary key) together with the position, in one
transaction; a slice is marked done only after its orders were sent. On start it re-sends every ``new``
order with the same client id (the executor resolves "already placed") and applies the fills it missed.

Decisions depend on the bar index only, so a restarted run decides the same orders:
AAA buys 10 (a bracket far from the price) every 4th bar and exits 2 bars later; BBB shorts 5 one bar
later and covers 2 bars after that. Run as ``python -m tests.alpaca.session_driver --base-url ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tradingmodel.execution.alpaca.executor import AlpacaExecutor
from tradingmodel.execution.alpaca.settings import AlpacaConfig
from tradingmodel.execution.orders import FillReport, OrderRequest, client_order_id

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (cid TEXT PRIMARY KEY, bar INTEGER, v TEXT, status TEXT, broker_id TEXT);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, cid TEXT, symbol TEXT, qty REAL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, qty REAL);
CREATE TABLE IF NOT EXISTS progress (k TEXT PRIMARY KEY, bar INTEGER);
"""


def price(bar: int, symbol: str) -> float:
    return 100.0 + (bar % 7) * 0.25 + (5.0 if symbol == "BBB" else 0.0)


def decisions(bar: int) -> list[OrderRequest]:
    t = START + timedelta(minutes=bar)
    out = []
    for sym, phase, side, qty in (("AAA", 0, "buy", 10), ("BBB", 1, "sell", 5)):
        k = (bar - phase) % 4
        if k not in (0, 2) or bar < phase:
            continue
        purpose = "entry" if k == 0 else "time_exit"
        s = side if k == 0 else ("sell" if side == "buy" else "buy")
        extra: dict[str, Any] = {}
        if purpose == "entry" and sym == "AAA":
            extra = {"stop_loss": 50.0, "take_profit": 200.0}
        out.append(
            OrderRequest(
                client_order_id("drv", t, sym, purpose),
                sym,
                s,
                qty,
                "market",  # type: ignore[arg-type]
                purpose,
                t,
                **extra,
            )
        )  # type: ignore[arg-type]
    return out


class Journal:
    """The driver's store: orders, fills, positions, progress (SQLite, one transaction per step)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(SCHEMA)

    def decide(self, bar: int, orders: list[OrderRequest]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for o in orders:
                v = json.dumps({**o.__dict__, "bar_time": o.bar_time.isoformat()})
                self.db.execute(
                    "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, 'new', NULL)", (o.client_order_id, bar, v)
                )

    def sent(self, cid: str, status: str, broker_id: str | None) -> None:
        self.db.execute("UPDATE orders SET status = ?, broker_id = ? WHERE cid = ?", (status, broker_id, cid))

    def unsent(self) -> list[OrderRequest]:
        out = []
        for (v,) in self.db.execute("SELECT v FROM orders WHERE status = 'new' ORDER BY bar, cid"):
            d = json.loads(v)
            d["bar_time"] = datetime.fromisoformat(d["bar_time"])
            out.append(OrderRequest(**d))
        return out

    def apply(self, fills: list[FillReport]) -> int:
        n = 0
        with self.db:
            self.db.execute("BEGIN")
            for f in fills:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?, ?, ?, ?)",
                    (f.fill_id, f.client_order_id, f.symbol, f.quantity),
                )
                if cur.rowcount:
                    signed = f.quantity if f.side == "buy" else -f.quantity
                    self.db.execute(
                        "INSERT INTO positions VALUES (?, ?) ON CONFLICT(symbol) DO UPDATE SET "
                        "qty = qty + excluded.qty",
                        (f.symbol, signed),
                    )
                    n += 1
        return n

    def positions(self) -> dict[str, float]:
        return {s: q for s, q in self.db.execute("SELECT symbol, qty FROM positions") if abs(q) > 1e-9}

    def done(self) -> int:
        row = self.db.execute("SELECT bar FROM progress WHERE k = 'bar'").fetchone()
        return -1 if row is None else int(row[0])

    def mark(self, bar: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO progress VALUES ('bar', ?)", (bar,))


def frame(bar: int) -> pd.DataFrame:
    t = pd.Timestamp(START + timedelta(minutes=bar))
    return pd.DataFrame(
        [
            {
                "symbol": s,
                "timestamp": t,
                "open": price(bar, s),
                "high": price(bar, s),
                "low": price(bar, s),
                "close": price(bar, s),
                "volume": 1000,
            }
            for s in ("AAA", "BBB")
        ]
    )


def drain(ex: AlpacaExecutor) -> list[FillReport]:
    out = []
    while not ex.queue.empty():
        out.append(ex.queue.get_nowait())
    return out


async def run_session(
    cfg: AlpacaConfig, journal: Journal, bars: int, *, bar_delay: float = 0.0, on_bar: Any = None
) -> dict[str, Any]:
    """Replay ``bars`` slices (resuming after the journal's last done slice); returns a summary."""
    ex = AlpacaExecutor(cfg)
    await ex.start()
    try:
        journal.apply(await ex.fills_since(None))  # what a killed run had not applied
        for o in journal.unsent():  # decided, perhaps sent: the same id again is placed at most once
            u = await ex.submit(o)
            journal.sent(o.client_order_id, u.status, u.broker_order_id)
        for bar in range(journal.done() + 1, bars + 1):
            if on_bar is not None:
                on_bar(bar)
            journal.apply(list(await ex.on_bars(frame(bar))) + drain(ex))
            if bar == bars:  # the last slice only fills what is pending
                break
            orders = decisions(bar)
            journal.decide(bar, orders)
            for o in orders:
                u = await ex.submit(o)
                journal.sent(o.client_order_id, u.status, u.broker_order_id)
            journal.mark(bar)
            if bar_delay:
                await asyncio.sleep(bar_delay)
        await ex.wait_settled([c for (c,) in journal.db.execute("SELECT cid FROM orders")], 1.0)
        journal.apply(drain(ex) + await ex.fills_since(None))
        await ex.verify_positions(journal.positions())
        count = lambda table: journal.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        return {"positions": journal.positions(), "orders": count("orders"), "fills": count("fills")}
    finally:
        await ex.close()


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--base-url", "--stream-url", "--key", "--secret", "--journal"):
        p.add_argument(name, required=True)
    p.add_argument("--bars", type=int, default=24)
    p.add_argument("--bar-delay", type=float, default=0.0)
    a = p.parse_args()
    cfg = AlpacaConfig(
        a.key,
        a.secret,
        a.base_url,
        a.stream_url,
        call_timeout_s=3.0,
        heartbeat_s=1.0,
        backoff=(0.05, 0.2),
        slice_wait_s=5.0,
        price_hook=a.base_url + "/_fake/prices",
    )
    print(json.dumps(asyncio.run(run_session(cfg, Journal(Path(a.journal)), a.bars, bar_delay=a.bar_delay))))


if __name__ == "__main__":
    main()
