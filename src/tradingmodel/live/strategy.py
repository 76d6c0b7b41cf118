"""The engine's one handle on the compiled strategy: the two phases per slice, snapshot, restore.

Per slice the engine hands the executor's fills (and rejections) to :meth:`LiveStrategy.apply` (the
strategy's ``apply_fills`` phase, :mod:`tradingmodel.strategy.core`), then calls :meth:`LiveStrategy.decide`
(the ``decide`` phase) and sends the orders to the executor; fills of orders executed at the close
(market-on-close) go to :meth:`apply` again. The strategy never fills an order itself: whatever executor the
engine has (paper, Alpaca), its fills are the strategy's book, as the simulated executor's are in the
backtest's compiled loop (see ``docs/live.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tradingmodel.config import TradingConfig
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.messages import Fill, Rejection, Report
from tradingmodel.strategy.state import StrategyState

#: 3: the strategy's own snapshot only (2 also carried the simulated executor's book)
SNAPSHOT_FORMAT = 3


class SnapshotFormatError(ValueError):
    """A session snapshot this version cannot continue (names both formats)."""


class ExecutionModeError(ValueError):
    """A session restarted on an executor that holds exits (or takes fractions) unlike the one it started on,
    with positions or orders open: the message says what changed and what to do."""


def _mode(emulated: bool, fractional: bool) -> str:
    exits = "stops and targets emulated by the engine" if emulated else "stops and targets resting at the executor"
    return f"{exits} and {'fractional' if fractional else 'whole-share'} quantities"


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
    """What one decision did: orders, rejections (symbol index, reason), the account after it."""

    orders: list[StrategyOrder]
    rejections: list[tuple[int, str]]
    equity: float
    cash: float
    gross: float


class LiveStrategy:
    """The strategy state of one session (symbols in a fixed order) and its two phases."""

    def __init__(self, state: StrategyState) -> None:
        self.state = state

    @classmethod
    def new(
        cls, symbols: Sequence[str], trading: TradingConfig, *, emulate_exits: bool = False, fractional: bool = False
    ) -> LiveStrategy:
        """A flat book with the deposit as cash. ``emulate_exits``: the executor holds no resting stop / target,
        the strategy exits at the next open once a bar touched one; ``fractional``: long entries are sized in
        fractions of a share (see :meth:`StrategyState.set_execution`)."""
        state = StrategyState.new(list(symbols), trading, capacity=64)
        state.set_execution(emulate_exits=emulate_exits, fractional=fractional)
        return cls(state)

    @staticmethod
    def warm(trading: TradingConfig) -> None:
        """Load the compiled phases once, on a scratch one-symbol book, before a session's first bar: numba loads
        each from its cache on first call (~0.3 s for ``decide``, measured) or compiles it after an install (~1 s),
        and that would otherwise fall on the first slice and the first fill."""
        s = LiveStrategy.new(["WARM"], trading)
        mkt = np.full((1, L.NK), np.nan)
        mkt[0, : L.K_VOLUME + 1] = 100.0, 100.0, 100.0, 100.0, 1.0
        s.decide(mkt, 0)
        entry = Fill(0, 1, 1.0, 100.0, 100.0, 0.0, "entry", 1)
        s.apply([entry])
        s.apply([entry])  # a partial fill adding to the position
        s.decide(mkt, 0)
        s.end_orders()

    @property
    def symbols(self) -> list[str]:
        return self.state.symbols

    @property
    def stamp(self) -> int:
        """The event stamp of the next slice: the number of slices decided so far (as the backtest's row)."""
        return int(self.state.acct[L.A_STEPS])

    def snapshot(self) -> bytes:
        """The whole state as bytes: a JSON header (format version, symbols) and the strategy's own snapshot
        (:meth:`StrategyState.snapshot`, no logs)."""
        strat = self.state.snapshot()
        hb = json.dumps({"format": SNAPSHOT_FORMAT, "symbols": self.symbols, "parts": [len(strat)]}).encode()
        return len(hb).to_bytes(4, "little") + hb + strat

    @classmethod
    def restore(
        cls,
        data: bytes,
        symbols: Sequence[str],
        trading: TradingConfig,
        *,
        emulate_exits: bool | None = None,
        fractional: bool | None = None,
    ) -> LiveStrategy:
        """The state saved by :meth:`snapshot`; refuses other symbols or another format. ``emulate_exits`` and
        ``fractional`` (None: as saved) are what the executor can do now: a flat book takes them, a book with a
        position or an order waiting refuses a change (:class:`ExecutionModeError`): its stops and targets were
        set up for the other mode (resting at the broker, or emulated), and its quantities maybe fractional."""
        n = int.from_bytes(data[:4], "little")
        head = json.loads(data[4 : 4 + n])
        check_format(head.get("format"))
        if head["symbols"] != list(symbols):
            raise ValueError(f"session snapshot is for symbols {','.join(head['symbols'])}, not {','.join(symbols)}")
        st = StrategyState.restore(data[4 + n : 4 + n + head["parts"][0]], symbols=list(symbols), capacity=64)
        want = (
            st.emulates_exits if emulate_exits is None else emulate_exits,
            st.fractional if fractional is None else fractional,
        )
        if want != (st.emulates_exits, st.fractional):
            busy = [s for i, s in enumerate(st.symbols) if st.si[i, L.I_SIDE] != 0 or st.si[i, L.I_PENDING] != 0]
            if busy:
                raise ExecutionModeError(
                    f"the session's book was built with {_mode(st.emulates_exits, st.fractional)}; the executor now "
                    f"has {_mode(*want)}, and {', '.join(busy)} still has a position or an order waiting: restart "
                    "with the setting the session started with (APCA_ALLOW_FRACTIONAL), close the positions first, "
                    "or start a new session (--session)"
                )
            st.set_execution(emulate_exits=want[0], fractional=want[1])
        return cls(st)

    @property
    def emulates_exits(self) -> bool:
        """Whether the strategy emulates the stop and target (the executor holds none)."""
        return self.state.emulates_exits

    # --- the two phases -----------------------------------------------------------------------
    def apply(self, reports: Sequence[Report]) -> None:
        """The executor's fills and rejections, in order, to the book (the ``apply_fills`` phase).

        Whole-order fills go through the compiled phase in one call; a partial fill (an entry adding to the
        position its first fill opened, an exit of fewer shares than held) through
        :meth:`StrategyState.apply_partial_fill`, so a partially filled entry is a smaller position."""
        if not reports:
            return
        try:
            if not any(self._partial(x) for x in reports):
                self.state.apply_fills(reports)
                return
            for x in reports:
                if self._partial(x):
                    self.state.apply_partial_fill(x)  # type: ignore[arg-type]
                else:
                    self.state.apply_fills([x])
        except ValueError as e:
            raise ValueError(
                f"the executor's fills do not match the strategy's book ({e}); stopping without applying them: "
                "resolve the position at the broker"
            ) from None

    def _partial(self, x: Report) -> bool:
        if not isinstance(x, Fill):
            return False
        side, held = self.position(x.symbol)
        if x.purpose == "entry":
            return side != 0 and side == x.side
        return side == -x.side and x.qty < held - 1e-9

    def decide(self, mkt: np.ndarray, day: int) -> SliceResult:
        """The ``decide`` phase after the close of slice ``mkt`` ((n_symbols, NK), NaN close = no bar) of New
        York session ``day``. The logs restart every slice, so their capacity never has to grow."""
        orders = self.state.decide_rows(mkt, self.stamp, day)
        return self._result(orders)

    def end_orders(self) -> SliceResult:
        """End of the session (``--flatten-on-exit``): cancel what waits for a next open and close every
        position at its last close (market-on-close orders, purpose ``end``)."""
        from tradingmodel.strategy import core

        k = core.end_orders(self.state.sf, self.state.si, self.state.out)
        return self._result(self.state.out[:k].copy())

    def _result(self, rows: np.ndarray) -> SliceResult:
        _, _, _, rej = self.state.used()
        out_o = [
            StrategyOrder(
                int(r[L.OR_SYM]),
                int(r[L.OR_SIDE]),
                float(r[L.OR_QTY]),
                L.ORDER_TYPES[int(r[L.OR_TYPE])],
                L.PURPOSES[int(r[L.OR_PURPOSE])],
            )
            for r in rows
            if int(r[L.OR_TYPE]) != L.OT_CANCEL
        ]
        out_r = [(int(r[L.RJ_SYM]), L.REJECTION_REASONS[int(r[L.RJ_REASON])]) for r in rej]
        self.state.counts[:] = 0  # the engine keeps what it needs; the logs restart each slice
        a = self.state.acct
        return SliceResult(out_o, out_r, float(a[L.A_EQUITY]), float(a[L.A_CASH]), float(a[L.A_GROSS]))

    def account(self) -> tuple[float, float, float]:
        """(equity, cash, gross exposure) at the last mark."""
        a = self.state.acct
        return float(a[L.A_EQUITY]), float(a[L.A_CASH]), float(a[L.A_GROSS])

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

    def awaits(self, s: int, purpose: str) -> bool:
        """Whether the strategy still waits for an order of ``purpose`` (strategy name) in symbol ``s``: an
        entry while flat with an entry pending, an exit while it has an exit pending."""
        pend = self.pending(s)
        if purpose == "entry":
            return pend in (1, -1) and self.position(s)[0] == 0
        if purpose in ("stop", "target"):  # an emulated stop / target exit, not a resting leg's
            return pend == 2 and L.EXIT_REASONS.get(int(self.state.si[s, L.I_PEND_REASON])) == purpose
        return pend == 2

    def rejection(self, s: int, purpose: str, reason: str) -> Rejection:
        """A rejection report for the order the strategy waits for in ``s`` (see :meth:`awaits`)."""
        side, qty = self.position(s)
        pend = self.pending(s)
        if purpose == "entry":
            side, qty = pend, float(self.state.sf[s, L.F_PEND_QTY])
        else:
            side = -side
        return Rejection(s, side, qty, purpose, max(self.stamp - 1, 0), reason)

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


def check_format(found: object) -> None:
    """Refuse a snapshot of another format with a message saying what to do."""
    if found != SNAPSHOT_FORMAT:
        raise SnapshotFormatError(
            f"the session's strategy snapshot has format {found}; this version reads format {SNAPSHOT_FORMAT} "
            "(format 2 carried the simulated executor's book, which the strategy no longer keeps): "
            "finish that session with the version that started it, or start a new one with another --session"
        )
