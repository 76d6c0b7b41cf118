"""The simulated executor as a Python object: paper trading with exactly the backtest's fills.

It wraps the compiled executor of :mod:`tradingmodel.execution.fills` (the code the backtest's loop
runs between the strategy's phases): orders decided after bar t's close fill at the symbol's next
bar's open with slippage and commission, an entry's stop and target rest as one-cancels-the-other
orders filled on a later bar's high / low (stop first, a gap fills at the open), market-on-close
orders fill at the close of the bar just decided. A long entry needs the cash (else it is rejected,
``insufficient_cash``). Driving :class:`~tradingmodel.strategy.StrategyState` with it slice by slice
gives the backtest's orders, fills and equity exactly::

    sim = SimulatedExecutor.for_state(state)
    state.apply_fills(sim.on_bar(row, stamp))          # bar of each symbol: (n_symbols, NK), NaN = none
    state.apply_fills(sim.submit(state.decide(row, stamp, day)))

The live engine's paper executor (the :class:`~tradingmodel.execution.base.Executor` interface) can keep
one of these as its book and translate the reports into ``FillReport`` records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tradingmodel.config import TradingConfig
from tradingmodel.execution import fills as F
from tradingmodel.strategy import layout as L
from tradingmodel.strategy import snapshot
from tradingmodel.strategy.messages import Order, Report, order_rows, reports_from_rows
from tradingmodel.strategy.state import StrategyState, market_row


@dataclass
class SimulatedExecutor:
    """Book of the simulated executor: ``ex[s, E_*]`` per symbol and ``xa[XA_*]`` (cash, costs) as in
    :mod:`tradingmodel.execution.fills`; ``rep`` is the scratch buffer for its reports."""

    ex: np.ndarray
    xa: np.ndarray
    rep: np.ndarray

    @classmethod
    def new(cls, n_symbols: int, trading: TradingConfig) -> SimulatedExecutor:
        """Flat book with ``trading.deposit`` cash and ``trading``'s slippage and commission."""
        return cls._make(
            n_symbols, trading.deposit, trading.slippage_bps, trading.commission_per_share, trading.commission_bps
        )

    @classmethod
    def for_state(cls, state: StrategyState) -> SimulatedExecutor:
        """A flat executor for ``state``: its cash and its cost parameters. Raises if ``state`` holds
        positions or orders (this executor would not know them)."""
        if (state.si[:, L.I_SIDE] != 0).any() or (state.si[:, L.I_PENDING] != 0).any():
            raise ValueError(
                "SimulatedExecutor.for_state: the strategy has positions or orders; restore "
                "the executor's own snapshot instead"
            )
        p = state.p
        return cls._make(
            len(state.symbols), float(state.acct[L.A_CASH]), p[L.P_SLIP_BPS], p[L.P_COMM_SHARE], p[L.P_COMM_BPS]
        )

    @classmethod
    def _make(cls, n: int, cash: float, slip_bps: float, per_share: float, bps: float) -> SimulatedExecutor:
        ex = np.zeros((n, F.NE))
        ex[:, F.E_STOP] = ex[:, F.E_TARGET] = np.nan
        xa = np.zeros(F.NXA)
        xa[F.XA_CASH], xa[F.XA_SLIP_BPS], xa[F.XA_COMM_SHARE], xa[F.XA_COMM_BPS] = cash, slip_bps, per_share, bps
        return cls(ex=ex, xa=xa, rep=np.zeros((2 * n + 2, L.NX)))

    @property
    def n_symbols(self) -> int:
        return self.ex.shape[0]

    def on_bar_rows(self, row: np.ndarray, stamp: int) -> np.ndarray:
        """:meth:`on_bar` returning report rows (a copy)."""
        mkt = market_row(row, self.n_symbols)
        k = F.sim_bar(mkt, 0, int(stamp), self.ex, self.xa, self.rep)
        return self.rep[:k].copy()

    def on_bar(self, row: np.ndarray, stamp: int) -> list[Report]:
        """The bars of one slice arrived (``(n_symbols, NK)``, NaN close = no bar): fill what waits for
        each symbol's open, then the resting stops / targets hit in the bar. Reports in symbol order."""
        return reports_from_rows(self.on_bar_rows(row, stamp))

    def submit_rows(self, out: np.ndarray) -> np.ndarray:
        """:meth:`submit` for ``out`` rows; returns report rows (a copy)."""
        out = np.ascontiguousarray(out, dtype=np.float64).reshape(-1, L.NOUT)
        if self.rep.shape[0] < out.shape[0]:
            self.rep = np.zeros((out.shape[0], L.NX))
        k = F.sim_submit(out, out.shape[0], self.ex, self.xa, self.rep)
        return self.rep[:k].copy()

    def submit(self, orders: Sequence[Order]) -> list[Report]:
        """Take the strategy's orders: market-on-close ones fill now (at the last bar's close), next-open
        ones wait for the symbol's next bar, cancels withdraw a waiting order. Returns the fills now."""
        for o in orders:
            if not 0 <= o.symbol < self.n_symbols:
                raise ValueError(f"submit: symbol index {o.symbol} out of range ({self.n_symbols} symbols)")
        return reports_from_rows(self.submit_rows(order_rows(orders)))

    @property
    def cash(self) -> float:
        return float(self.xa[F.XA_CASH])

    def positions(self) -> dict[int, tuple[int, float, float, float]]:
        """``{symbol index: (side, qty, resting stop, resting target)}`` for open positions."""
        return {
            s: (int(r[F.E_SIDE]), float(r[F.E_QTY]), float(r[F.E_STOP]), float(r[F.E_TARGET]))
            for s, r in enumerate(self.ex)
            if r[F.E_SIDE] != 0
        }

    def snapshot(self) -> bytes:
        """The executor's whole book as bytes (format-versioned, see :mod:`tradingmodel.strategy.snapshot`)."""
        return snapshot.pack(
            "simulated-executor", [str(i) for i in range(self.n_symbols)], {"ex": self.ex, "xa": self.xa}
        )

    @classmethod
    def restore(cls, data: bytes, n_symbols: int | None = None) -> SimulatedExecutor:
        """The book saved by :meth:`snapshot`; ``n_symbols``, when given, must match."""
        names, a = snapshot.unpack(
            data, "simulated-executor", {"ex": (("n", F.NE), np.float64), "xa": ((F.NXA,), np.float64)}
        )
        if n_symbols is not None and len(names) != n_symbols:
            raise snapshot.SnapshotError(f"simulated-executor snapshot: {len(names)} symbols, expected {n_symbols}")
        return cls(ex=a["ex"].copy(), xa=a["xa"].copy(), rep=np.zeros((2 * len(names) + 2, L.NX)))
