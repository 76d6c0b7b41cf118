"""Python handle on the strategy state arrays, for the backtest and for a live engine.

Live use, one completed minute at a time (the backtest does exactly this inside compiled code)::

    state = StrategyState.new(symbols, trading)            # cash = trading.deposit
    mkt = np.full((1, len(symbols), NK), np.nan)            # one slice; NaN close = no bar
    mkt[0, i, K_OPEN:K_VOLUME + 1] = o, h, l, c, v          # bar of symbol i
    mkt[0, i, K_VOLAVG], mkt[0, i, K_RSI], mkt[0, i, K_RETSTD] = volume_sma20, rsi14, ret_std20
    mkt[0, i, K_PRED] = predicted_close                     # for the next bar's close
    mkt[0, i, K_SESSION_LAST] = 1.0 if last bar of the session else 0.0
    step(state, mkt, stamp=k, day=session_number)           # k: your own event counter (int)
    fills, trades, orders, rejections = state.used()        # logs so far (rows keep their order)

Pending orders (``si[:, I_PENDING]``) are what the broker must execute at the symbol's next open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tradingmodel.config import TradingConfig
from tradingmodel.strategy import core
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.layout import params_from_config


@dataclass
class StrategyState:
    """All mutable state of the strategy for ``n`` symbols plus its event logs.

    ``sf``/``si`` are per-symbol float/int state (columns ``F_*``/``I_*`` in :mod:`.layout`),
    ``acct`` the shared account (``A_*``), ``p`` the parameters (``P_*``); ``fills``, ``trades``,
    ``orders``, ``rejections`` are logs whose first ``counts[C_*]`` rows are used.
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

    @classmethod
    def new(cls, symbols: Sequence[str], trading: TradingConfig, capacity: int = 1024) -> StrategyState:
        """Flat book, cash = ``trading.deposit``, no halts."""
        n = len(symbols)
        acct = np.zeros(L.NA, dtype=np.float64)
        acct[L.A_CASH] = acct[L.A_EQUITY] = acct[L.A_PEAK] = acct[L.A_DAY_START] = trading.deposit
        acct[L.A_DAY] = -1.0
        cap = max(capacity, 4 * n + 4)
        return cls(
            symbols=list(symbols), p=params_from_config(trading),
            sf=np.zeros((n, L.NF), dtype=np.float64), si=np.zeros((n, L.NI), dtype=np.int64), acct=acct,
            fills=np.zeros((cap, L.NFILL)), trades=np.zeros((cap, L.NTRADE)), orders=np.zeros((cap, L.NORDER)),
            rejections=np.zeros((cap, L.NREJ), dtype=np.int64),
        )

    def ensure_capacity(self) -> None:
        """Make room for one more :func:`step` (at most ``2n + 2`` rows per log)."""
        extra = 2 * len(self.symbols) + 2
        self.fills = core.grow_log(self.fills, int(self.counts[L.C_FILLS]) + extra)
        self.trades = core.grow_log(self.trades, int(self.counts[L.C_TRADES]) + extra)
        self.orders = core.grow_log(self.orders, int(self.counts[L.C_ORDERS]) + extra)
        self.rejections = core.grow_log(self.rejections, int(self.counts[L.C_REJ]) + extra)

    @property
    def status(self) -> str:
        """``"trading"``, ``"halted_for_the_day"`` (daily loss limit) or ``"halted"`` (drawdown limit)."""
        return ("trading", "halted_for_the_day", "halted")[int(self.acct[L.A_HALTED])]

    @property
    def pending(self) -> dict[str, str]:
        """Orders waiting for each symbol's next open: ``{"AAA": "buy" | "sell_short" | "exit"}``."""
        names = {1: "buy", -1: "sell_short", 2: "exit"}
        return {sym: names[int(code)] for sym, code in zip(self.symbols, self.si[:, L.I_PENDING], strict=True)
                if code != 0}

    def used(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The used rows of (fills, trades, orders, rejections)."""
        c = self.counts
        return (self.fills[: c[L.C_FILLS]], self.trades[: c[L.C_TRADES]], self.orders[: c[L.C_ORDERS]],
                self.rejections[: c[L.C_REJ]])


def step(state: StrategyState, mkt: np.ndarray, stamp: int, day: int) -> np.ndarray:
    """Run the compiled :func:`tradingmodel.strategy.core.step` on every row of ``mkt``.

    ``mkt`` has shape ``(rows, n_symbols, NK)`` (one row = one time slice; a live engine passes
    one row per completed bar time). Events are logged at ``stamp + row``; ``day`` is the session
    of these rows. Returns the (equity, cash, gross exposure) after each row.
    """
    n_rows = mkt.shape[0]
    days = np.full(n_rows, day, dtype=np.int64)
    curve = np.zeros((n_rows, 3))
    t = 0
    while t < n_rows:
        state.ensure_capacity()
        t = core.step(np.ascontiguousarray(mkt, dtype=np.float64), days, t, n_rows, stamp, state.sf, state.si,
                      state.acct, state.p, state.fills, state.trades, state.orders, state.rejections,
                      state.counts, curve)
    return curve


def close_all(state: StrategyState) -> None:
    """Close every open position at its last close (end of data / shutdown)."""
    state.ensure_capacity()
    core.close_all(state.sf, state.si, state.acct, state.p, state.fills, state.trades, state.counts)
