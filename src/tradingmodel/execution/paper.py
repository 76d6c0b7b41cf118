"""The paper executor: a simulated broker with the backtest's fill model, persistent across restarts.

Fill rules (those of the backtest, :mod:`tradingmodel.execution.fills`): a market order fills at the
symbol's next bar open after the bar it was decided on, with adverse slippage and commission; a
market-on-close order fills at the close of the symbol's last bar; an entry carries a protective stop and a
target (one cancels the other) anchored at its fill price (``stop_loss_threshold`` / ``take_profit_threshold``
as the strategy does), checked on every later bar of the symbol from the entry bar on: stop first, a gap
fills at the open. A long entry needs the cash (else ``rejected``).

Its book (orders, fills, cash, positions, the last bar seen) lives in its own SQLite file, written in one
transaction per change, so it survives the engine being killed as a broker would; :meth:`on_bars` is
idempotent per bar time (a slice it already processed returns the fills it made then).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tradingmodel.config import TradingConfig
from tradingmodel.execution.base import AccountState, ExecutorError
from tradingmodel.execution.fills import EXIT_STOP, NO_EXIT, check_exit, commission, fill_price
from tradingmodel.execution.orders import TERMINAL, FillReport, OrderRequest, OrderUpdate, advance

_SCHEMA = """
CREATE TABLE IF NOT EXISTS book (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (cid TEXT PRIMARY KEY, symbol TEXT NOT NULL, open INTEGER NOT NULL, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, ts TEXT NOT NULL, v TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts);
CREATE INDEX IF NOT EXISTS orders_open ON orders (open) WHERE open = 1;
"""
LEG_SUFFIX = {"stop_loss": "-sl", "take_profit": "-tp"}


def leg_ids(entry_client_order_id: str) -> dict[str, str]:
    """Client order ids of an entry's protective stop and target legs."""
    return {p: entry_client_order_id + s for p, s in LEG_SUFFIX.items()}


def is_leg_id(client_order_id: str) -> bool:
    """Whether ``client_order_id`` names a protective leg (:func:`leg_ids`), not an order the strategy decided
    (an emulated stop / target exit has the same purpose but an id of its own)."""
    return client_order_id.endswith(tuple(LEG_SUFFIX.values()))


def _iso(t: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(t).tz_convert("UTC").isoformat()


def _fill_json(f: FillReport) -> str:
    d = asdict(f)
    d["timestamp"] = _iso(f.timestamp)
    return json.dumps(d)


def _fill_from(v: str) -> FillReport:
    d = json.loads(v)
    d["timestamp"] = pd.Timestamp(d["timestamp"]).to_pydatetime()
    return FillReport(**d)


class PaperExecutor:
    """:class:`tradingmodel.execution.base.Executor` that fills on the bars the engine hands it."""

    name = "paper"
    holds_protective_orders = True
    #: a slice handed again after a restart returns the fills it made then (the engine relies on it)
    replays_slices = True

    def __init__(self, trading: TradingConfig, state_path: str | Path | None = None) -> None:
        self.trading = trading
        self.path = str(state_path) if state_path is not None else ":memory:"
        if state_path is not None:
            Path(state_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT v FROM book WHERE k = 'book'").fetchone()
        self.book: dict[str, Any] = (
            json.loads(row[0]) if row else {"cash": trading.deposit, "positions": {}, "last": {}, "processed": None}
        )
        self._queue: asyncio.Queue[FillReport] = asyncio.Queue()

    # --- persistence -----------------------------------------------------------------------
    def _order(self, cid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT v FROM orders WHERE cid = ?", (cid,)).fetchone()
        return json.loads(row[0]) if row else None

    def _commit(self, orders: Sequence[dict[str, Any]], fills: Sequence[FillReport]) -> None:
        """Orders, fills and the book in one transaction (a kill leaves all or none of it)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for o in orders:
                self.db.execute(
                    "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)",
                    (o["cid"], o["symbol"], int(o["status"] not in TERMINAL), json.dumps(o)),
                )
            for f in fills:
                self.db.execute("INSERT INTO fills VALUES (?, ?, ?)", (f.fill_id, _iso(f.timestamp), _fill_json(f)))
            self.db.execute("INSERT OR REPLACE INTO book VALUES ('book', ?)", (json.dumps(self.book),))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        for f in fills:
            self._queue.put_nowait(f)

    @staticmethod
    def _update(o: dict[str, Any]) -> OrderUpdate:
        return OrderUpdate(
            o["cid"],
            o["status"],
            broker_order_id="paper-" + o["cid"],
            filled_quantity=o["filled"],
            filled_avg_price=o["avg_price"],
            message=o["message"],
        )

    # --- the fill model ---------------------------------------------------------------------
    def _execute(self, o: dict[str, Any], ref: float, side: int, ts: str) -> FillReport | None:
        """Fill order ``o`` in full at ``ref`` plus slippage; update cash and position (core's arithmetic)."""
        t = self.trading
        sym, qty = o["symbol"], o["quantity"]
        price = fill_price(ref, side, t.slippage_bps)
        comm = commission(qty, price, t.commission_per_share, t.commission_bps)
        pos = self.book["positions"].get(sym)
        if o["purpose"] == "entry":
            if side > 0 and self.book["cash"] < qty * price + comm:
                o["status"], o["message"] = advance(o["cid"], o["status"], "rejected"), "insufficient cash"
                return None
            self.book["cash"] -= side * qty * price + comm
            self.book["positions"][sym] = {
                "side": side,
                "qty": qty,
                "stop": price * (1.0 - side * t.stop_loss_threshold),
                "target": price * (1.0 + side * t.take_profit_threshold),
                "legs": leg_ids(o["cid"]),
            }
        else:
            if pos is None:
                o["status"], o["message"] = advance(o["cid"], o["status"], "canceled"), "no position to close"
                return None
            self.book["cash"] += pos["side"] * pos["qty"] * price - comm
            del self.book["positions"][sym]
        o["status"] = advance(o["cid"], o["status"], "filled")
        o["filled"], o["avg_price"] = qty, price
        return FillReport(
            f"{o['cid']}-f1",
            o["cid"],
            sym,
            "buy" if side > 0 else "sell",
            qty,
            price,
            comm,
            pd.Timestamp(ts).to_pydatetime(),
            reference_price=ref,
        )

    def _new_legs(self, entry: dict[str, Any], pos: dict[str, Any]) -> list[dict[str, Any]]:
        exit_side = "sell" if pos["side"] > 0 else "buy"
        base = {
            "symbol": entry["symbol"],
            "side": exit_side,
            "quantity": pos["qty"],
            "status": "submitted",
            "filled": 0.0,
            "avg_price": None,
            "message": None,
            "parent": entry["cid"],
            "bar_time": entry["bar_time"],
            "limit_price": None,
            "stop_price": None,
        }
        return [
            {
                **base,
                "cid": pos["legs"]["stop_loss"],
                "order_type": "stop",
                "purpose": "stop_loss",
                "stop_price": pos["stop"],
            },
            {
                **base,
                "cid": pos["legs"]["take_profit"],
                "order_type": "limit",
                "purpose": "take_profit",
                "limit_price": pos["target"],
            },
        ]

    async def on_bars(self, bars: pd.DataFrame) -> Sequence[FillReport]:
        """Fill pending market orders at these opens, then resting stops/targets on these bars."""
        if len(bars) == 0:
            return ()
        b = bars.sort_values("symbol")
        rows = list(
            zip(
                b["symbol"].tolist(),
                b["open"].tolist(),
                b["high"].tolist(),
                b["low"].tolist(),
                b["close"].tolist(),
                strict=True,
            )
        )
        return self.on_slice(pd.Timestamp(bars["timestamp"].iloc[0]), rows)

    def on_slice(
        self, timestamp: pd.Timestamp, rows: Sequence[tuple[str, float, float, float, float]]
    ) -> list[FillReport]:
        """:meth:`on_bars` without a DataFrame: ``rows`` of (symbol, open, high, low, close) sorted by symbol
        (the engine's fast path; the same code)."""
        ts = _iso(timestamp)
        if self.book["processed"] is not None and pd.Timestamp(ts) <= pd.Timestamp(self.book["processed"]):
            rows = self.db.execute("SELECT v FROM fills WHERE ts = ? ORDER BY rowid", (ts,)).fetchall()
            return [_fill_from(r[0]) for r in rows]
        changed: dict[str, dict[str, Any]] = {}
        fills: list[FillReport] = []
        # the open orders of every symbol in one query (an index holds only the open ones): a query per symbol
        # scanned the whole table each time, a cost that grew with the session
        pending_of: dict[str, list[dict[str, Any]]] = {}
        for sym, v in self.db.execute("SELECT symbol, v FROM orders WHERE open = 1 ORDER BY rowid"):
            pending_of.setdefault(sym, []).append(json.loads(v))
        for sym, o_, h_, l_, c_ in rows:
            for o in pending_of.get(sym, ()):
                if o["order_type"] != "market" or pd.Timestamp(o["bar_time"]) >= pd.Timestamp(ts):
                    continue
                f = self._execute(o, float(o_), 1 if o["side"] == "buy" else -1, ts)
                changed[o["cid"]] = o
                if f is not None:
                    fills.append(f)
                    if o["purpose"] == "entry":
                        changed.update((leg["cid"], leg) for leg in self._new_legs(o, self.book["positions"][sym]))
            pos = self.book["positions"].get(sym)
            if pos is not None:
                code, ref = check_exit(pos["side"], float(o_), float(h_), float(l_), pos["stop"], pos["target"])
                if code != NO_EXIT:
                    legs = {p: changed.get(cid) or self._order(cid) for p, cid in pos["legs"].items()}
                    changed.update((leg["cid"], leg) for leg in legs.values())
                    hit, other = ("stop_loss", "take_profit") if code == EXIT_STOP else ("take_profit", "stop_loss")
                    f = self._execute(legs[hit], ref, -pos["side"], ts)
                    if f is not None:
                        fills.append(f)
                    legs[other]["status"] = advance(legs[other]["cid"], legs[other]["status"], "canceled")
                    legs[other]["message"] = "one-cancels-other"
            self.book["last"][sym] = {"ts": ts, "close": float(c_)}
        self.book["processed"] = ts
        self._commit(list(changed.values()), fills)
        return fills

    # --- the Executor interface -------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to connect to; loads the compiled fill model once (numba), off the first bar's path."""
        check_exit(1, 100.0, 100.0, 100.0, 99.0, 101.0)
        commission(1.0, fill_price(100.0, 1, 0.0), 0.0, 0.0)

    async def close(self) -> None:
        """Close the book file (orders stay)."""
        self.db.close()

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Accept ``order``; a market-on-close order fills at once at the symbol's last close."""
        known = self._order(order.client_order_id)
        if known is not None:
            return self._update(known)
        o = {
            "cid": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side,
            "quantity": order.quantity,
            "order_type": order.order_type,
            "purpose": order.purpose,
            "bar_time": _iso(order.bar_time),
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "parent": order.parent_client_order_id,
            "status": "submitted",
            "filled": 0.0,
            "avg_price": None,
            "message": None,
        }
        fills = []
        if order.order_type == "market_on_close":
            last = self.book["last"].get(order.symbol)
            if last is None:
                raise ExecutorError(f"order {order.client_order_id}: no bar of {order.symbol} seen to close on")
            f = self._execute(o, last["close"], 1 if order.side == "buy" else -1, last["ts"])
            fills = [f] if f is not None else []
        elif order.order_type != "market":
            raise ExecutorError(
                f"order {order.client_order_id}: the paper executor takes market and "
                f"market_on_close orders (protective legs come with the entry), not {order.order_type}"
            )
        self._commit([o], fills)
        return self._update(o)

    async def cancel(self, client_order_id: str) -> OrderUpdate:
        """Cancel an open order; a terminal one is returned as it is."""
        o = self._order(client_order_id)
        if o is None:
            raise ExecutorError(f"order {client_order_id}: unknown to the paper executor")
        if o["status"] not in TERMINAL:
            o["status"] = advance(client_order_id, o["status"], "canceled")
            self._commit([o], [])
        return self._update(o)

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        o = self._order(client_order_id)
        return None if o is None else self._update(o)

    async def order_details(self, client_order_id: str) -> dict[str, Any] | None:
        """The stored order (symbol, side, quantity, type, purpose, prices, parent), for leg bookkeeping."""
        return self._order(client_order_id)

    async def open_orders(self) -> list[OrderUpdate]:
        return [
            self._update(json.loads(v))
            for (v,) in self.db.execute("SELECT v FROM orders WHERE open = 1 ORDER BY rowid")
        ]

    async def positions(self) -> dict[str, float]:
        return {s: p["side"] * p["qty"] for s, p in self.book["positions"].items()}

    async def account(self) -> AccountState:
        pos = self.book["positions"]
        equity = self.book["cash"] + sum(p["side"] * p["qty"] * self.book["last"][s]["close"] for s, p in pos.items())
        return AccountState(cash=self.book["cash"], equity=equity, buying_power=self.book["cash"])

    async def fills_since(self, since: pd.Timestamp | None) -> list[FillReport]:
        if since is None:
            rows = self.db.execute("SELECT v FROM fills ORDER BY rowid").fetchall()
        else:
            rows = self.db.execute("SELECT v FROM fills WHERE ts > ? ORDER BY rowid", (_iso(since),)).fetchall()
        return [_fill_from(r[0]) for r in rows]

    async def fills(self) -> AsyncIterator[FillReport]:  # type: ignore[override]
        while True:
            yield await self._queue.get()
