"""The live engine: bar source → slice barrier → features + one batched model call → strategy → executor
→ store → events, on one asyncio loop. See ``docs/live.md`` for the order of commits and why.

Per slice (minute ``T``): the executor fills what was pending on ``T``'s bars (paper) or reports what the
broker filled since the previous slice (Alpaca); those fills and the refusals of awaited orders go to the
strategy's ``apply_fills`` phase; the predictor updates and the strategy's ``decide`` phase runs on ``T``; the
slice's fills (with positions), decisions (orders ``new``), predictions, snapshot and events are committed in
one transaction; only then are stale orders canceled and the new ones submitted. A fill that comes back at
submit (market-on-close) goes to the strategy and is committed with its snapshot.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.config import TradingConfig
from tradingmodel.execution.base import Executor
from tradingmodel.execution.orders import OrderRequest, client_order_id
from tradingmodel.live import signals
from tradingmodel.live.barrier import Slice, SliceBarrier, slices
from tradingmodel.live.crash import CrashPoints
from tradingmodel.live.events import Publisher
from tradingmodel.live.orders import AWAITED, EngineError, OrderBook
from tradingmodel.live.predictor import Predictor
from tradingmodel.live.sources import LiveBar, SliceEnd, calendar_session_last
from tradingmodel.live.strategy import SNAPSHOT_FORMAT, LiveStrategy, SliceResult
from tradingmodel.store.sessions import EventRow, SessionInfo, SessionStore, SliceWrite
from tradingmodel.strategy import layout as L

PURPOSE_OF = {
    "entry": "entry",
    "time": "time_exit",
    "halt": "halt_exit",
    "session_close": "session_close",
    "end": "end",
    # decided only when the strategy emulates them (the executor holds no legs): market at the next open
    "stop": "stop_loss",
    "target": "take_profit",
}


@dataclass
class EngineStats:
    """Counters shown on the panel and returned at the end."""

    slices: int = 0
    bars: int = 0
    refused: int = 0
    orders: int = 0
    fills: int = 0
    last_bar: pd.Timestamp | None = None
    started: float = 0.0
    equity: float = math.nan
    cash: float = math.nan
    status: str = "trading"
    last_signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve: list[tuple[pd.Timestamp, float, float, float]] = field(default_factory=list)


class Engine:
    """One paper/live session (see the module docstring); :meth:`run` until the source ends or a stop."""

    def __init__(
        self,
        *,
        session: SessionInfo,
        store: SessionStore,
        strategy: LiveStrategy,
        predictor: Predictor,
        executor: Executor,
        source: AsyncIterable[LiveBar | SliceEnd],
        trading: TradingConfig,
        model_id: int | None = None,
        flatten_on_exit: bool = False,
        barrier_timeout: float = 5.0,
        publisher: Publisher | None = None,
        crash: CrashPoints | None = None,
    ) -> None:
        self.session, self.store, self.strategy, self.predictor = session, store, strategy, predictor
        self.executor, self.source, self.trading, self.model_id = executor, source, trading, model_id
        self.symbols = strategy.symbols
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.flatten_on_exit = flatten_on_exit
        self.barrier = SliceBarrier(
            self.symbols, timeout=barrier_timeout, after=session.last_bar_time and pd.Timestamp(session.last_bar_time)
        )
        self.publisher = publisher or Publisher()
        self.crash = crash or CrashPoints()
        self.book = OrderBook(store, executor, self.crash, self.publisher)
        self.stats = EngineStats(last_bar=self.barrier.released)
        self.last_bar_of: dict[str, pd.Timestamp] = {}
        self._stop = asyncio.Event()
        self._risk_status: str | None = None

    # --- control ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Finish the slice in hand, take no new entries, then persist and stop (SIGINT/SIGTERM)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> EngineStats:
        """Reconcile with the executor, trade every slice, then (optionally) flatten. Returns the counters."""
        loop = asyncio.get_running_loop()
        self.stats.started = loop.time()
        LiveStrategy.warm(self.trading)
        await self.executor.start()  # a broker's pre-trade checks: account active, clock open
        check = getattr(self.executor, "check_symbols", None)
        if check is not None:  # tradable (and shortable when shorts are allowed), before any order
            for note in await check(self.symbols, short=self.trading.allow_short):
                self.book.publish(self.store.append_events([EventRow("session", {"state": "note", "message": note})]))
        await self.book.load()
        last = self.barrier.released
        await self.book.reconcile(last, self.strategy, lambda: self._portfolio_events(last))
        self._risk_event([], last)
        # What exists now (the model, torch, pandas, SQLAlchemy: ~10^5-10^6 objects) stays out of the cyclic
        # collector's scans while trading: a full collection of it costs tens of ms inside some slice.
        gc.collect()
        gc.freeze()
        try:
            async for sl in slices(self.source, self.barrier):
                await self._process(sl)
                if self.stopping:
                    break
        finally:
            gc.unfreeze()
        if self.flatten_on_exit and self.stats.last_bar is not None:
            await self._flatten()
        await self._settle()
        return self.stats

    # --- one slice ----------------------------------------------------------------------------
    async def _process(self, sl: Slice) -> None:
        T = sl.timestamp
        self.predictor.prepare()
        got = await self._executor_bars(sl)
        self.crash("after_executor_bars")
        updates = await self.book.poll(list(sl.bars))
        exec_fills = self.book.unrecorded(got)
        legs = await self.book.legs_of(exec_fills)
        self.strategy.apply(self.book.reports(exec_fills, updates, self.strategy, self.strategy.stamp, legs))
        for s, b in sl.bars.items():
            self.predictor.update(s, b.close, b.volume)
            self.last_bar_of[s] = T
        preds = self.predictor.predict(list(sl.bars))
        mkt = np.full((len(self.symbols), L.NK), np.nan)
        for s, b in sl.bars.items():
            row = mkt[self.index[s]]
            row[L.K_OPEN : L.K_VOLUME + 1] = b.open, b.high, b.low, b.close, b.volume
            row[L.K_VOLAVG], row[L.K_RSI], row[L.K_RETSTD] = self.predictor.strategy_features(s)
            row[L.K_PRED] = preds[s].predicted_close if s in preds else np.nan
            last = b.session_last if b.session_last is not None else calendar_session_last(T)
            row[L.K_SESSION_LAST] = 1.0 if last else 0.0
        day = int(np.asarray(self.barrier._date(T)).astype(np.int64))
        res = self.strategy.decide(mkt, day)
        self.book.tentative(exec_fills, updates)
        orders = self._orders(res, T)
        cancels = self.book.stale(self.strategy, self.index)
        events = self._slice_events(sl, preds)
        events += self._risk_event([], T, commit=False)
        events += [EventRow("order", self.book.order_data(o, "new"), o.symbol, T) for o in orders]
        rows, sig_events = self._prediction_rows(T, preds, mkt, res, orders)
        events += sig_events
        events += self._portfolio_events(T)
        ev = self.store.commit_slice(
            SliceWrite(T, self.strategy.snapshot(), SNAPSHOT_FORMAT, exec_fills, legs, orders, updates, rows, events)
        )
        self.book.committed(orders, legs)
        self.book.publish(ev)
        self.stats.slices += 1
        self.stats.bars += len(sl.bars)
        self.stats.refused += len(sl.refused)
        self.stats.fills += len(exec_fills)
        self.stats.orders += len(orders)
        self.stats.last_bar = T
        self.crash("after_decision_commit")
        await self.book.send(cancels, orders, strategy=self.strategy, last=T, after=lambda: self._portfolio_events(T))
        self._mark_stats(T)
        self.store.checkpoint()  # after the submits: off the bar -> orders path

    def _mark_stats(self, T: pd.Timestamp) -> None:
        equity, cash, gross = self.strategy.account()
        self.stats.equity, self.stats.cash = equity, cash
        if self.stats.curve and self.stats.curve[-1][0] == T:
            self.stats.curve[-1] = (T, equity, cash, gross)
        else:
            self.stats.curve.append((T, equity, cash, gross))

    async def _executor_bars(self, sl: Slice) -> list:
        """The slice's bars to the executor (the paper executor's row fast path when it has one)."""
        bs = list(sl.bars.values())  # sorted by symbol
        fast = getattr(self.executor, "on_slice", None)
        if fast is not None:
            return fast(sl.timestamp, [(b.symbol, b.open, b.high, b.low, b.close) for b in bs])
        frame = pd.DataFrame(
            {
                "symbol": [b.symbol for b in bs],
                "timestamp": [sl.timestamp] * len(bs),
                "open": [b.open for b in bs],
                "high": [b.high for b in bs],
                "low": [b.low for b in bs],
                "close": [b.close for b in bs],
                "volume": [b.volume for b in bs],
            }
        )
        return list(await self.executor.on_bars(frame))

    def _orders(self, res: SliceResult, T: pd.Timestamp) -> list[OrderRequest]:
        """The slice's decisions as orders with deterministic client ids (a stop/target is an order only when
        the strategy emulates it; otherwise its hits are fills of the executor's resting legs)."""
        out = []
        sl_frac, tp_frac = self.trading.stop_loss_threshold, self.trading.take_profit_threshold
        working = {(v["symbol"], v["reason"]) for v in self.book.open.values()}
        for o in res.orders:
            if o.purpose not in PURPOSE_OF:
                continue
            sym, purpose = self.symbols[o.symbol], PURPOSE_OF[o.purpose]
            if purpose in AWAITED and (sym, purpose) in working:
                continue  # decided again while the broker still works the first one: never a second
            side = "buy" if o.side > 0 else "sell"
            otype = "market_on_close" if o.order_type == "market_on_close" else "market"
            stop = target = None
            if purpose == "entry":  # indicative levels at the decision close; the fill price anchors them
                c = self.strategy.last_close(o.symbol)
                stop, target = c * (1.0 - o.side * sl_frac), c * (1.0 + o.side * tp_frac)
            out.append(
                OrderRequest(
                    client_order_id(self.session.name, T.to_pydatetime(), sym, purpose),
                    sym,
                    side,
                    o.quantity,
                    otype,
                    purpose,
                    T.to_pydatetime(),
                    stop_loss=stop,
                    take_profit=target,
                )
            )
        return out

    async def _flatten(self) -> None:
        """Close every position at its last close and drop pending entries (``--flatten-on-exit``)."""
        T = self.stats.last_bar
        assert T is not None
        res = self.strategy.end_orders()
        orders = []
        for o in res.orders:
            sym = self.symbols[o.symbol]
            bt = self.last_bar_of.get(sym, T).to_pydatetime()
            orders.append(
                OrderRequest(
                    client_order_id(self.session.name, T.to_pydatetime(), sym, "end"),
                    sym,
                    "buy" if o.side > 0 else "sell",
                    o.quantity,
                    "market_on_close",
                    "end",
                    bt,
                )
            )
        cancels = self.book.stale(self.strategy, self.index)
        ev = self.store.commit_slice(
            SliceWrite(
                T,
                self.strategy.snapshot(),
                SNAPSHOT_FORMAT,
                orders=orders,
                events=[EventRow("order", self.book.order_data(o, "new"), o.symbol, T) for o in orders],
            )
        )
        self.book.committed(orders, [])
        self.book.publish(ev)
        await self.book.send(cancels, orders, strategy=self.strategy, last=T, after=lambda: self._portfolio_events(T))
        self._mark_stats(T)
        self.store.checkpoint()  # after the submits: off the bar -> orders path

    async def _settle(self) -> None:
        """At the end of the bars: the executor's last fills (a broker waits for the last slice's orders:
        filled, refused or past the deadline; the paper executor has none without a next bar) to the strategy,
        then the positions checked against the broker's (the truth) where the executor can tell them."""
        T = self.stats.last_bar
        empty = pd.DataFrame(columns=["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        fills = self.book.unrecorded(list(await self.executor.on_bars(empty)))
        if fills:
            legs = await self.book.legs_of(fills)
            reports = self.book.reports(fills, [], self.strategy, max(self.strategy.stamp - 1, 0), legs)
            bar = None if T is None else T.to_pydatetime()
            self.book.hand_over(self.strategy, reports, fills, bar, after=lambda: self._portfolio_events(T), legs=legs)
            self.stats.fills += len(fills)
        verify = getattr(self.executor, "verify_positions", None)
        if verify is not None:
            ours = {s: p["quantity"] for s, p in self.store.positions().items() if abs(p["quantity"]) > 1e-9}
            try:
                await verify(ours)
            except Exception as e:  # ExecutorError: the message names the symbol and both quantities
                raise EngineError(str(e)) from None

    # --- events -------------------------------------------------------------------------------
    @staticmethod
    def _bar_event(b: LiveBar, status: str, gap_bars: int, T: Any) -> EventRow:
        data = {"open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume}
        return EventRow("bar", {**data, "status": status, "gap_bars": gap_bars}, b.symbol, T)

    def _slice_events(self, sl: Slice, preds: dict) -> list[EventRow]:
        T = sl.timestamp
        ev = [self._bar_event(b, status, 0, b.timestamp) for b, status in sl.refused]
        ev += [self._bar_event(b, "applied", sl.gaps.get(s, 0), T) for s, b in sl.bars.items()]
        for s, p in preds.items():
            ev.append(
                EventRow(
                    "prediction",
                    {
                        "predicted_close": p.predicted_close,
                        "close": p.close,
                        "predicted_return_pct": 100.0 * (p.predicted_close / p.close - 1.0),
                        "confidence": p.confidence,
                    },
                    s,
                    T,
                )
            )
        return ev

    def _portfolio_events(self, T: pd.Timestamp | None) -> list[EventRow]:
        """The book after the strategy's latest fills and marks (the last of a slice wins in the curve)."""
        if T is None:
            return []
        positions = {}
        for i, s in enumerate(self.symbols):
            side, qty = self.strategy.position(i)
            if side:
                entry, last = float(self.strategy.state.sf[i, L.F_ENTRY_PRICE]), self.strategy.last_close(i)
                positions[s] = {
                    "quantity": side * qty,
                    "avg_price": entry,
                    "last_price": last,
                    "unrealized_pnl": side * qty * (last - entry),
                }
        equity, cash, gross = self.strategy.account()
        data = {
            "equity": equity,
            "cash": cash,
            "gross_exposure": gross,
            "realized_pnl": self.book.realized_total(),
            "positions": positions,
        }
        return [EventRow("portfolio", data, None, T)]

    def _prediction_rows(
        self, T: pd.Timestamp, preds: dict, mkt: np.ndarray, res: SliceResult, orders: list[OrderRequest]
    ) -> tuple[list[dict[str, Any]], list[EventRow]]:
        """Rows for ``predictions`` (with their ``signals`` JSON) and the matching signal events."""
        rows, events = [], []
        decided = {o.symbol: o.purpose for o in orders}
        rejected = {self.symbols[i]: r for i, r in res.rejections}
        stamp, now = T.to_pydatetime(), pd.Timestamp.now(tz="UTC").to_pydatetime()  # once a slice (~5 us each)
        for s, p in preds.items():
            i = self.index[s]
            sig = signals.explain(
                mkt[i], self.strategy.params, decided.get(s), rejected.get(s), self.strategy.position(i)[0] != 0
            )
            self.stats.last_signals[s] = {"time": T, **sig, "predicted_close": p.predicted_close}
            if self.model_id is not None:
                rows.append(
                    {
                        "model_id": self.model_id,
                        "symbol": s,
                        "timeframe": "1m",
                        "horizon": 1,
                        "timestamp": stamp,
                        "predicted_price": p.predicted_close,
                        "confidence": None if math.isnan(p.confidence) else p.confidence,
                        "signals": sig,
                        "created_at": now,
                    }
                )
            events.append(EventRow("signal", sig, s, T))
        return rows, events

    def _risk_event(self, ev: list[EventRow], T: pd.Timestamp | None, commit: bool = True) -> list[EventRow]:
        status = self.strategy.status
        if status == self._risk_status:
            return []
        r = self.strategy.risk()
        data = {
            "status": status,
            "previous": self._risk_status,
            "equity": r["equity"],
            "peak_equity": r["peak_equity"],
            "day_start_equity": r["day_start_equity"],
            "drawdown_pct": 100.0 * (1.0 - r["equity"] / r["peak_equity"]) if r["peak_equity"] else 0.0,
            "day_loss_pct": 100.0 * (1.0 - r["equity"] / r["day_start_equity"]) if r["day_start_equity"] else 0.0,
        }
        self._risk_status = status
        self.stats.status = status
        rows = [EventRow("risk", data, None, None if T is None else T.to_pydatetime())]
        if commit:
            self.book.publish(self.store.append_events(rows))
            return []
        return rows
