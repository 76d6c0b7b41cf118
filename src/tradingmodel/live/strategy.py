"""The engine's one handle on the compiled strategy: step a time slice, snapshot, restore.

Every strategy call of the live engine goes through this module, so that moving to the two-phase step
(apply fills / decide) touches this file only. Today it drives :func:`tradingmodel.strategy.state.step`,
which also fills the strategy's own orders with the backtest's fill model; the engine checks those fills
against the executor's, fill for fill, and stops on any difference (see ``docs/live.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tradingmodel.config import TradingConfig
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.state import StrategyState, close_all
from tradingmodel.strategy.state import step as state_step

SNAPSHOT_FORMAT = 2


@dataclass(frozen=True)
class StrategyFill:
    """A fill as the strategy booked it (symbol index, +1 buy / -1 sell, shares, price, commission, purpose)."""

    symbol: int
    side: int
    quantity: float
    price: float
    reference_price: float
    commission: float
    purpose: str


@dataclass(frozen=True)
class StrategyOrder:
    """An order the strategy decided on this slice."""

    symbol: int
    side: int
    quantity: float
    order_type: str  # layout.ORDER_TYPES name
    purpose: str  # layout.PURPOSES name


@dataclass(frozen=True)
class SliceResult:
    """What one slice did: fills booked, orders decided, rejections (symbol index, reason), the account."""

    fills: list[StrategyFill]
    orders: list[StrategyOrder]
    rejections: list[tuple[int, str]]
    equity: float
    cash: float
    gross: float


class LiveStrategy:
    """The strategy state of one session (symbols in a fixed order) and its per-slice step."""

    def __init__(self, state: StrategyState) -> None:
        self.state = state

    @classmethod
    def new(cls, symbols: Sequence[str], trading: TradingConfig) -> LiveStrategy:
        """A flat book with the deposit as cash."""
        return cls(StrategyState.new(list(symbols), trading, capacity=64))

    @property
    def symbols(self) -> list[str]:
        return self.state.symbols

    @property
    def stamp(self) -> int:
        """The event stamp of the next slice: the number of slices stepped so far (as the backtest's row)."""
        return int(self.state.acct[L.A_STEPS])

    def snapshot(self) -> bytes:
        """The whole state as bytes: a JSON header (format version, symbols, part sizes), the strategy's own
        snapshot (:meth:`StrategyState.snapshot`, no logs) and the simulated executor's book."""
        strat = self.state.snapshot()
        sim = self.state.sim.snapshot() if self.state.sim is not None else b""
        head = json.dumps({"format": SNAPSHOT_FORMAT, "symbols": self.symbols, "parts": [len(strat), len(sim)]})
        hb = head.encode()
        return len(hb).to_bytes(4, "little") + hb + strat + sim

    @classmethod
    def restore(cls, data: bytes, symbols: Sequence[str], trading: TradingConfig) -> LiveStrategy:
        """The state saved by :meth:`snapshot`; refuses other symbols or another format."""
        from tradingmodel.execution.simulated import SimulatedExecutor

        n = int.from_bytes(data[:4], "little")
        head = json.loads(data[4 : 4 + n])
        if head.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"strategy snapshot format {head.get('format')}, expected {SNAPSHOT_FORMAT}")
        if head["symbols"] != list(symbols):
            raise ValueError(f"session snapshot is for symbols {','.join(head['symbols'])}, not {','.join(symbols)}")
        live = cls.new(symbols, trading)
        ns, nx = head["parts"]
        pos = 4 + n
        restored = StrategyState.restore(data[pos : pos + ns], symbols=list(symbols))
        live.state = restored
        if nx:
            restored.sim = SimulatedExecutor.restore(data[pos + ns : pos + ns + nx], n_symbols=len(symbols))
        return live

    def _take_logs(self) -> tuple[list[StrategyFill], list[StrategyOrder], list[tuple[int, str]]]:
        fills, _, orders, rej = self.state.used()
        out_f = [
            StrategyFill(
                int(r[L.FL_SYM]),
                int(r[L.FL_SIDE]),
                float(r[L.FL_QTY]),
                float(r[L.FL_PRICE]),
                float(r[L.FL_REF]),
                float(r[L.FL_COMM]),
                L.PURPOSES[int(r[L.FL_PURPOSE])],
            )
            for r in fills
        ]
        out_o = [
            StrategyOrder(
                int(r[L.OR_SYM]),
                int(r[L.OR_SIDE]),
                float(r[L.OR_QTY]),
                L.ORDER_TYPES[int(r[L.OR_TYPE])],
                L.PURPOSES[int(r[L.OR_PURPOSE])],
            )
            for r in orders
        ]
        out_r = [(int(r[L.RJ_SYM]), L.REJECTION_REASONS[int(r[L.RJ_REASON])]) for r in rej]
        self.state.counts[:] = 0  # the engine keeps what it needs; the logs restart each slice
        return out_f, out_o, out_r

    def step(self, mkt: np.ndarray, day: int) -> SliceResult:
        """One slice ``mkt`` of shape (n_symbols, NK) (NaN close = no bar) of New York session ``day``.

        Runs :func:`tradingmodel.strategy.state.step` (simulated executor → apply fills → decide → executor →
        apply fills, the backtest's own per-row sequence); the logs restart every slice, so their capacity
        never has to grow after the first."""
        st = self.state
        need = 2 * len(self.symbols) + 2
        if min(st.fills.shape[0], st.trades.shape[0], st.orders.shape[0], st.rejections.shape[0]) < need:
            st.ensure_capacity()
        curve = state_step(st, np.ascontiguousarray(mkt[None, :, :], dtype=np.float64), self.stamp, day)
        f, o, r = self._take_logs()
        return SliceResult(f, o, r, float(curve[0, 0]), float(curve[0, 1]), float(curve[0, 2]))

    def close_all(self) -> SliceResult:
        """Close every open position at its last close (end of a replay, ``--flatten-on-exit``)."""
        close_all(self.state)
        f, o, r = self._take_logs()
        a = self.state.acct
        return SliceResult(f, o, r, float(a[L.A_EQUITY]), float(a[L.A_CASH]), float(a[L.A_GROSS]))

    # --- views the engine reads -------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.state.status

    def position(self, s: int) -> tuple[int, float]:
        """(side, shares) of symbol index ``s``."""
        return int(self.state.si[s, L.I_SIDE]), float(self.state.sf[s, L.F_QTY])

    def pending(self, s: int) -> int:
        """0 none, +1/-1 entry waiting for the next open, 2 exit waiting for the next open."""
        return int(self.state.si[s, L.I_PENDING])

    def last_close(self, s: int) -> float:
        return float(self.state.sf[s, L.F_LAST_CLOSE])

    def risk(self) -> dict[str, float]:
        a = self.state.acct
        return {
            "equity": float(a[L.A_EQUITY]),
            "peak_equity": float(a[L.A_PEAK]),
            "day_start_equity": float(a[L.A_DAY_START]),
            "cash": float(a[L.A_CASH]),
        }

    @property
    def params(self) -> np.ndarray:
        return self.state.p
