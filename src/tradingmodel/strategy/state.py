"""Python handle on the strategy state: the two phases for a live engine, snapshots, and the logs.

A live engine, per completed minute (time slice of all symbols)::

    state = StrategyState.new(symbols, trading)              # cash = trading.deposit
    sim = SimulatedExecutor.for_state(state)                 # or a broker (tradingmodel.execution)
    row = state.new_slice()                                  # (n_symbols, NK), NaN = no bar
    row[i, K_OPEN:K_VOLUME + 1] = o, h, l, c, v              # bar of symbol i
    row[i, K_VOLAVG], row[i, K_RSI], row[i, K_RETSTD] = volume_sma20, rsi14, ret_std20
    row[i, K_PRED] = predicted_close                         # for the next bar's close
    row[i, K_SESSION_LAST] = 1.0 if last bar of the session else 0.0
    state.apply_fills(sim.on_bar(row, stamp))                # fills at this bar's open and inside it
    orders = state.decide(row, stamp, day)                   # -> [Order], also logged
    state.apply_fills(sim.submit(orders))                    # market-on-close fills at this close
    blob = state.snapshot()                                  # store it; StrategyState.restore(blob)

``stamp`` is the caller's slice counter or epoch seconds (an int below 2**53), ``day`` the session
number (the daily loss limit resets when it changes). :func:`step` does exactly this with the
simulated executor, which is what the backtest's compiled loop does per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tradingmodel.config import TradingConfig
from tradingmodel.strategy import core, snapshot
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.layout import params_from_config
from tradingmodel.strategy.messages import Fill, Order, Rejection, Report, orders_from_rows, report_rows
from tradingmodel.strategy.risk import protective_levels

if TYPE_CHECKING:
    from tradingmodel.execution.simulated import SimulatedExecutor

_STATE = {
    "p": ((None,), np.float64),  # older snapshots have fewer parameters: the new ones restore as 0
    "sf": (("n", L.NF), np.float64),
    "si": (("n", L.NI), np.int64),
    "acct": ((L.NA,), np.float64),
}
_LOGS = {
    "fills": ((None, L.NFILL), np.float64),
    "trades": ((None, L.NTRADE), np.float64),
    "orders": ((None, L.NORDER), np.float64),
    "rejections": ((None, L.NREJ), np.int64),
    "counts": ((4,), np.int64),
}
MAX_STAMP = 2**53


@dataclass
class StrategyState:
    """All mutable state of the strategy for ``n`` symbols plus its event logs.

    ``sf``/``si`` are per-symbol float/int state (columns ``F_*``/``I_*`` in :mod:`.layout`),
    ``acct`` the shared account (``A_*``), ``p`` the parameters (``P_*``); ``fills``, ``trades``,
    ``orders``, ``rejections`` are logs whose first ``counts[C_*]`` rows are used; ``out`` is the
    scratch buffer :meth:`decide` writes its orders to. ``sim`` is the simulated executor that
    :func:`step` uses (made on first use); a live engine with its own executor leaves it None.
    """

    symbols: list[str]
    p: np.ndarray
    sf: np.ndarray
    si: np.ndarray
    acct: np.ndarray
    fills: np.ndarray
    trades: np.ndarray
    orders: np.ndarray
    rejections: np.ndarray
    counts: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    out: np.ndarray = field(default_factory=lambda: np.zeros((0, L.NOUT)))
    sim: SimulatedExecutor | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.out.shape[0] < 2 * len(self.symbols) + 2:
            self.out = np.zeros((2 * len(self.symbols) + 2, L.NOUT))

    @classmethod
    def new(cls, symbols: Sequence[str], trading: TradingConfig, capacity: int = 1024) -> StrategyState:
        """Flat book, cash = ``trading.deposit``, no halts."""
        n = len(symbols)
        acct = np.zeros(L.NA, dtype=np.float64)
        acct[L.A_CASH] = acct[L.A_EQUITY] = acct[L.A_PEAK] = acct[L.A_DAY_START] = trading.deposit
        acct[L.A_DAY] = -1.0
        cap = max(capacity, 4 * n + 4)
        return cls(
            symbols=list(symbols),
            p=params_from_config(trading),
            sf=np.zeros((n, L.NF), dtype=np.float64),
            si=np.zeros((n, L.NI), dtype=np.int64),
            acct=acct,
            fills=np.zeros((cap, L.NFILL)),
            trades=np.zeros((cap, L.NTRADE)),
            orders=np.zeros((cap, L.NORDER)),
            rejections=np.zeros((cap, L.NREJ), dtype=np.int64),
        )

    def set_execution(self, *, emulate_exits: bool, fractional: bool) -> None:
        """What the executor can do, which the config does not say: ``emulate_exits`` when it holds no resting
        stop / target (:func:`~.core.decide` then exits at the next open once a bar touched one), ``fractional``
        when it takes fractional quantities (long entries sized in fractions of a share)."""
        self.p[L.P_EMULATE_EXITS] = 1.0 if emulate_exits else 0.0
        self.p[L.P_FRACTIONAL] = 1.0 if fractional else 0.0

    @property
    def emulates_exits(self) -> bool:
        return bool(self.p[L.P_EMULATE_EXITS] > 0)

    @property
    def fractional(self) -> bool:
        return bool(self.p[L.P_FRACTIONAL] > 0)

    def ensure_capacity(self, rows: int | None = None) -> None:
        """Make room for ``rows`` more rows in every log (default ``2n + 2``: one phase of one slice)."""
        extra = 2 * len(self.symbols) + 2 if rows is None else rows
        self.fills = core.grow_log(self.fills, int(self.counts[L.C_FILLS]) + extra)
        self.trades = core.grow_log(self.trades, int(self.counts[L.C_TRADES]) + extra)
        self.orders = core.grow_log(self.orders, int(self.counts[L.C_ORDERS]) + extra)
        self.rejections = core.grow_log(self.rejections, int(self.counts[L.C_REJ]) + extra)

    # --- the two phases ------------------------------------------------------------------------
    def new_slice(self) -> np.ndarray:
        """An empty market slice ``(n_symbols, NK)``: all NaN (no bar) until the caller fills rows."""
        return np.full((len(self.symbols), L.NK), np.nan)

    def decide_rows(self, row: np.ndarray, stamp: int, day: int) -> np.ndarray:
        """:meth:`decide` returning the orders as ``out`` rows (a copy) instead of objects."""
        mkt = market_row(row, len(self.symbols))
        if not 0 <= int(stamp) < MAX_STAMP:
            raise ValueError(f"stamp {stamp} must be a non-negative int below 2**53 (e.g. epoch seconds)")
        self.ensure_capacity()
        k = core.decide(
            mkt,
            0,
            int(day),
            int(stamp),
            self.sf,
            self.si,
            self.acct,
            self.p,
            self.orders,
            self.rejections,
            self.counts,
            self.out,
        )
        return self.out[:k].copy()

    def decide(self, row: np.ndarray, stamp: int, day: int) -> list[Order]:
        """Decisions after the close of the slice ``row`` (``(n_symbols, NK)``, see :meth:`new_slice`).

        Marks the book at the new closes, updates the risk state (halts) and returns the orders: exits
        (market-on-close at the session's last bar, halt / holding-time exits at the next open), cancels
        of entries waiting while halted, and entries with their stop / target. Apply the fills of the
        slice's open first (:meth:`apply_fills`).
        """
        return orders_from_rows(self.decide_rows(row, stamp, day))

    def apply_fill_rows(self, rep: np.ndarray) -> None:
        """:meth:`apply_fills` for report rows (``FL_*`` + ``X_STATUS`` / ``X_REASON``), unchecked."""
        rep = np.ascontiguousarray(rep, dtype=np.float64).reshape(-1, L.NX)
        self.ensure_capacity(2 * rep.shape[0] + 2)
        core.apply_fills(
            rep,
            rep.shape[0],
            self.sf,
            self.si,
            self.acct,
            self.p,
            self.fills,
            self.trades,
            self.orders,
            self.rejections,
            self.counts,
        )

    def apply_fills(self, reports: Iterable[Report]) -> None:
        """Apply an executor's fills and rejections, in order, to cash, positions and the logs.

        An entry fill opens the position (stop / target from its fill price), any other fill closes it
        (whole quantity), a rejection withdraws the order waiting for the symbol's next open. Checked
        first, nothing applied on error: a fill that does not match the book raises ``ValueError``.
        """
        reports = list(reports)
        side, held = self.si[:, L.I_SIDE].copy(), self.sf[:, L.F_QTY].copy()  # the book as the fills go
        for x in reports:
            if not isinstance(x, Fill | Rejection):
                raise ValueError(f"apply_fills: {x!r} is neither a Fill nor a Rejection")
            if not 0 <= x.symbol < len(self.symbols):
                raise ValueError(f"apply_fills: symbol index {x.symbol} out of range ({len(self.symbols)} symbols)")
            sym = self.symbols[x.symbol]
            if x.purpose not in L.PURPOSES.values():
                raise ValueError(f"apply_fills: {sym}: unknown purpose {x.purpose!r}")
            if isinstance(x, Rejection):
                if x.reason not in L.REJECTION_REASONS.values():
                    raise ValueError(f"apply_fills: {sym}: unknown rejection reason {x.reason!r}")
                continue
            if x.side not in (1, -1) or not x.qty > 0 or not x.price > 0:
                raise ValueError(f"apply_fills: {sym}: fill needs side +1/-1 and positive qty and price: {x}")
            if x.purpose == "entry":
                if side[x.symbol] != 0:
                    raise ValueError(f"apply_fills: {sym}: entry fill while a position is open")
                side[x.symbol], held[x.symbol] = x.side, x.qty
            else:
                if side[x.symbol] != -x.side or held[x.symbol] != x.qty:
                    raise ValueError(
                        f"apply_fills: {sym}: {x.purpose} fill {x.side:+d} x {x.qty} does not "
                        f"close the position ({int(side[x.symbol]):+d} x {held[x.symbol]})"
                    )
                side[x.symbol] = 0
            if not 0 <= x.stamp < MAX_STAMP:
                raise ValueError(f"apply_fills: {sym}: stamp {x.stamp} must be an int in [0, 2**53)")
        self.apply_fill_rows(report_rows(reports))

    def apply_partial_fill(self, fill: Fill) -> None:
        """A fill for part of an order (a broker's partial fills), which :meth:`apply_fills` does not take: an
        entry fill adding to the position its first fill opened (the entry price becomes the average, the
        stop / target follow it) or an exit fill of fewer shares than held (the position shrinks; the round
        trip is logged when the last share goes through :meth:`apply_fills`). Cash and the fill log follow."""
        s, sym = fill.symbol, self.symbols[fill.symbol]
        side, held = int(self.si[s, L.I_SIDE]), float(self.sf[s, L.F_QTY])
        if fill.side not in (1, -1) or not fill.qty > 0 or not fill.price > 0:
            raise ValueError(f"apply_partial_fill: {sym}: needs side +1/-1 and positive qty and price: {fill}")
        self.ensure_capacity(2)
        if fill.purpose == "entry":
            if side != fill.side:
                raise ValueError(
                    f"apply_partial_fill: {sym}: entry fill {fill.side:+d} adds to no position ({side:+d})"
                )
            qty = held + fill.qty
            avg = (held * self.sf[s, L.F_ENTRY_PRICE] + fill.qty * fill.price) / qty
            self.sf[s, L.F_QTY], self.sf[s, L.F_ENTRY_PRICE] = qty, avg
            self.sf[s, L.F_STOP], self.sf[s, L.F_TARGET] = protective_levels(avg, side, self.p[L.P_SL], self.p[L.P_TP])
            self.sf[s, L.F_ENTRY_COMM] += fill.commission
            self.acct[L.A_CASH] -= fill.side * fill.qty * fill.price + fill.commission
        else:
            if side != -fill.side or not fill.qty < held:
                raise ValueError(
                    f"apply_partial_fill: {sym}: {fill.purpose} fill {fill.side:+d} x {fill.qty} is not part of "
                    f"the position ({side:+d} x {held})"
                )
            self.sf[s, L.F_QTY] = held - fill.qty
            self.acct[L.A_CASH] += side * fill.qty * fill.price - fill.commission
        rep = report_rows([fill])[0]
        core.fill_row(
            self.fills,
            int(self.counts[L.C_FILLS]),
            int(fill.stamp),
            s,
            fill.side,
            fill.qty,
            fill.price,
            fill.reference_price,
            fill.commission,
            int(rep[L.FL_PURPOSE]),
        )
        self.counts[L.C_FILLS] += 1

    def end_orders(self) -> list[Order]:
        """End of data or shutdown: cancel orders waiting for a next open and close every position at its
        last close (purpose ``end``); the executor's fills then go to :meth:`apply_fills`."""
        k = core.end_orders(self.sf, self.si, self.out)
        return orders_from_rows(self.out[:k].copy())

    # --- views ---------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """``"trading"``, ``"halted_for_the_day"`` (daily loss limit) or ``"halted"`` (drawdown limit)."""
        return ("trading", "halted_for_the_day", "halted")[int(self.acct[L.A_HALTED])]

    @property
    def pending(self) -> dict[str, str]:
        """Orders waiting for each symbol's next open: ``{"AAA": "buy" | "sell_short" | "exit"}``."""
        names = {1: "buy", -1: "sell_short", 2: "exit"}
        return {
            sym: names[int(code)] for sym, code in zip(self.symbols, self.si[:, L.I_PENDING], strict=True) if code != 0
        }

    @property
    def equity(self) -> float:
        """Equity at the last mark (cash + signed positions at the last closes)."""
        return float(self.acct[L.A_EQUITY])

    def positions(self) -> dict[str, tuple[int, float, float, float]]:
        """Open positions: ``{symbol: (side, qty, stop price, target price)}``; the stop and target are
        the resting orders the executor holds for it (or the levels the strategy emulates)."""
        return {
            sym: (
                int(self.si[s, L.I_SIDE]),
                float(self.sf[s, L.F_QTY]),
                float(self.sf[s, L.F_STOP]),
                float(self.sf[s, L.F_TARGET]),
            )
            for s, sym in enumerate(self.symbols)
            if self.si[s, L.I_SIDE] != 0
        }

    def used(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The used rows of (fills, trades, orders, rejections)."""
        c = self.counts
        return (
            self.fills[: c[L.C_FILLS]],
            self.trades[: c[L.C_TRADES]],
            self.orders[: c[L.C_ORDERS]],
            self.rejections[: c[L.C_REJ]],
        )

    # --- snapshots -----------------------------------------------------------------------------
    def snapshot(self, include_logs: bool = False) -> bytes:
        """The whole decision state (parameters, per-symbol state, account) as bytes, with the format
        version; with ``include_logs`` also the used rows of the logs. :meth:`restore` reads it back."""
        arrays = {"p": self.p, "sf": self.sf, "si": self.si, "acct": self.acct}
        if include_logs:
            fills, trades, orders, rej = self.used()
            arrays.update(fills=fills, trades=trades, orders=orders, rejections=rej, counts=self.counts)
        return snapshot.pack("strategy", self.symbols, arrays)

    @classmethod
    def restore(cls, data: bytes, symbols: Sequence[str] | None = None, capacity: int = 1024) -> StrategyState:
        """The state saved by :meth:`snapshot`, exactly. ``symbols``, when given, must match the saved
        ones; a wrong kind, format version, shape or dtype raises :class:`~.snapshot.SnapshotError`."""
        saved, a = snapshot.unpack(data, "strategy", {**_STATE, **_LOGS}, optional=tuple(_LOGS))
        if symbols is not None and list(symbols) != saved:
            raise snapshot.SnapshotError(f"strategy snapshot: symbols {saved} differ from {list(symbols)}")
        n = len(saved)
        cap = max(capacity, 4 * n + 4)
        logs = {name: np.zeros((cap, spec[0][1]), dtype=spec[1]) for name, spec in _LOGS.items() if name != "counts"}
        counts = np.zeros(4, dtype=np.int64)
        if "counts" in a:
            counts = a["counts"].copy()
            for name, c in zip(("fills", "trades", "orders", "rejections"), counts, strict=True):
                if a[name].shape[0] != c:
                    raise snapshot.SnapshotError(
                        f"strategy snapshot: {name} has {a[name].shape[0]} rows, counts say {c}"
                    )
                logs[name] = core.grow_log(logs[name], int(c) + cap)
                logs[name][:c] = a[name]
        if a["p"].shape[0] > L.NP:
            raise snapshot.SnapshotError(f"strategy snapshot: {a['p'].shape[0]} parameters, this build has {L.NP}")
        p = np.zeros(L.NP, dtype=np.float64)
        p[: a["p"].shape[0]] = a["p"]
        return cls(
            symbols=saved,
            p=p,
            sf=a["sf"].copy(),
            si=a["si"].copy(),
            acct=a["acct"].copy(),
            counts=counts,
            **logs,
        )


def market_row(row: np.ndarray, n_symbols: int) -> np.ndarray:
    """One slice as the compiled phases read it, ``(1, n_symbols, NK)`` float64; ``ValueError`` otherwise."""
    a = np.ascontiguousarray(row, dtype=np.float64)
    if a.size != n_symbols * L.NK or a.shape[-1] != L.NK:
        raise ValueError(f"a market slice must have shape ({n_symbols}, {L.NK}) (symbols, K_* fields), got {a.shape}")
    return a.reshape(1, n_symbols, L.NK)


def _sim(state: StrategyState) -> SimulatedExecutor:
    if state.sim is None:
        from tradingmodel.execution.simulated import SimulatedExecutor  # execution imports strategy

        state.sim = SimulatedExecutor.for_state(state)
    return state.sim


def step(state: StrategyState, mkt: np.ndarray, stamp: int, day: int) -> np.ndarray:
    """Run the rows of ``mkt`` (``(rows, n_symbols, NK)``) through the simulated executor and the two
    phases, as the backtest does per row (``state.sim``, made on first use). Events are logged at
    ``stamp + row``; ``day`` is the session of these rows. Returns (equity, cash, gross) per row."""
    sim = _sim(state)
    curve = np.zeros((mkt.shape[0], 3))
    for r in range(mkt.shape[0]):
        state.apply_fill_rows(sim.on_bar_rows(mkt[r], stamp + r))
        orders = state.decide_rows(mkt[r], stamp + r, day)
        if len(orders):
            state.apply_fill_rows(sim.submit_rows(orders))
        curve[r] = state.acct[L.A_EQUITY], state.acct[L.A_CASH], state.acct[L.A_GROSS]
    return curve


def close_all(state: StrategyState) -> None:
    """Close every open position at its last close through ``state.sim`` (end of data / shutdown)."""
    sim = _sim(state)
    rows = core.end_orders(state.sf, state.si, state.out)
    state.apply_fill_rows(sim.submit_rows(state.out[:rows]))
