"""Column layouts of the state and log arrays shared by the compiled step and its Python callers.

The compiled strategy works on plain NumPy arrays (numba caches plain-array functions on disk;
jitclasses it does not), so every record is a row of a 2-D array and every field a column index
named here. Python code reads the logs back through these names only.
"""

from __future__ import annotations

import numpy as np

from tradingmodel.config import TradingConfig

# --- market slice mkt[t, symbol, K_*] (float64; a missing bar has close = NaN) -----------------
K_OPEN, K_HIGH, K_LOW, K_CLOSE, K_VOLUME = 0, 1, 2, 3, 4
K_VOLAVG, K_RSI, K_RETSTD, K_PRED, K_SESSION_LAST = 5, 6, 7, 8, 9
NK = 10

# --- parameters p[P_*] (float64) ---------------------------------------------------------------
P_BUY_TH, P_SELL_TH, P_SIGMA, P_SL, P_TP, P_MAX_HOLD = 0, 1, 2, 3, 4, 5
P_VOL_MULT, P_RSI_OB, P_RSI_OS, P_COOLDOWN, P_FLATTEN, P_ALLOW_SHORT = 6, 7, 8, 9, 10, 11
P_COMM_BPS, P_COMM_SHARE, P_SLIP_BPS, P_SIZING, P_POS_FRAC, P_RISK = 12, 13, 14, 15, 16, 17
P_MAX_POS_FRAC, P_MAX_GROSS, P_MAX_OPEN, P_DAILY_LOSS, P_MAX_DD = 18, 19, 20, 21, 22
# set by the live engine from its executor, never by the config (0 in a backtest): P_EMULATE_EXITS when the
# executor holds no resting stop / target (decide then exits at the next open once a close bar touched
# one), P_FRACTIONAL when it takes fractional quantities (long entries are then sized in fractions of a share)
P_EMULATE_EXITS, P_FRACTIONAL = 23, 24
NP = 25

# --- per-symbol float state sf[s, F_*] ---------------------------------------------------------
F_QTY, F_ENTRY_PRICE, F_STOP, F_TARGET, F_ENTRY_COMM, F_LAST_CLOSE, F_PEND_QTY = 0, 1, 2, 3, 4, 5, 6
NF = 7

# --- per-symbol int state si[s, I_*] -----------------------------------------------------------
# side: 0 flat, 1 long, -1 short; pending (the order sent for the symbol's next open, not yet reported
# filled or rejected by the executor): 0 none, 1 buy entry, -1 short entry, 2 exit
I_SIDE, I_ENTRY_T, I_BARS_HELD, I_PENDING, I_PEND_REASON = 0, 1, 2, 3, 4
I_BAR_COUNT, I_COOLDOWN_UNTIL, I_LAST_T = 5, 6, 7
NI = 8

# --- account state acct[A_*] (float64) ---------------------------------------------------------
# halted: 0 trading, 1 halted for the rest of the day (daily loss), 2 halted for good (drawdown)
A_CASH, A_EQUITY, A_PEAK, A_DAY_START, A_HALTED, A_DAY, A_GROSS, A_STEPS = 0, 1, 2, 3, 4, 5, 6, 7
NA = 8

# --- logs --------------------------------------------------------------------------------------
# fills[n, L_*]: one row per execution
FL_T, FL_SYM, FL_SIDE, FL_QTY, FL_PRICE, FL_REF, FL_COMM, FL_SLIP, FL_PURPOSE = range(9)
NFILL = 9
# trades[n, TR_*]: one row per closed round trip
TR_SYM, TR_SIDE, TR_ENTRY_T, TR_ENTRY_PRICE, TR_EXIT_T, TR_EXIT_PRICE = range(6)
TR_QTY, TR_PNL, TR_RET_PCT, TR_COMM, TR_REASON = range(6, 11)
NTRADE = 11
# orders[n, OR_*]: one row per order sent (after the risk check)
OR_T, OR_SYM, OR_SIDE, OR_QTY, OR_TYPE, OR_PURPOSE = range(6)
NORDER = 6
# rejections[n, RJ_*] (int64)
RJ_T, RJ_SYM, RJ_REASON = 0, 1, 2
NREJ = 3
# counts[C_*] (int64): rows used in each log
C_FILLS, C_TRADES, C_ORDERS, C_REJ = 0, 1, 2, 3

# --- between the strategy and an executor (float64 rows) ---------------------------------------
# orders out of ``decide``: the orders-log columns OR_* plus, for an entry, its protective stop and
# target as fractions of the entry's fill price (the levels are set from the fill, like the backtest's)
O_SL, O_TP = 6, 7
NOUT = 8
# reports into ``apply_fills``: the fill-log columns FL_* plus a status and, when rejected, the reason
X_STATUS, X_REASON = 9, 10
NX = 11
X_FILLED, X_REJECTED = 0, 1

# --- codes -------------------------------------------------------------------------------------
PURPOSE_ENTRY = 0
R_STOP, R_TARGET, R_TIME, R_SESSION, R_HALT, R_END = 1, 2, 3, 4, 5, 6
EXIT_REASONS = {
    R_STOP: "stop",
    R_TARGET: "target",
    R_TIME: "time",
    R_SESSION: "session_close",
    R_HALT: "halt",
    R_END: "end",
}
PURPOSES = {PURPOSE_ENTRY: "entry", **EXIT_REASONS}

# OT_CANCEL withdraws the symbol's order waiting for its next open (halt); it is not an orders-log row
OT_NEXT_OPEN, OT_ON_CLOSE, OT_STOP, OT_LIMIT, OT_CANCEL = 0, 1, 2, 3, 4
ORDER_TYPES = {
    OT_NEXT_OPEN: "market_next_open",
    OT_ON_CLOSE: "market_on_close",
    OT_STOP: "stop",
    OT_LIMIT: "limit",
    OT_CANCEL: "cancel",
}

RJ_HALTED, RJ_COOLDOWN, RJ_MAX_OPEN, RJ_MAX_GROSS, RJ_SIZE_ZERO = 1, 2, 3, 4, 5
RJ_CASH, RJ_SESSION_END, RJ_NO_EQUITY, RJ_NO_POSITION = 6, 7, 8, 9
REJECTION_REASONS = {
    RJ_HALTED: "halted",
    RJ_COOLDOWN: "cooldown",
    RJ_MAX_OPEN: "max_open_positions",
    RJ_MAX_GROSS: "max_gross_exposure",
    RJ_SIZE_ZERO: "size_below_one_share",
    RJ_CASH: "insufficient_cash",
    RJ_SESSION_END: "last_bar_of_session",
    RJ_NO_EQUITY: "no_equity",
    RJ_NO_POSITION: "no_position",
}


def params_from_config(trading: TradingConfig) -> np.ndarray:
    """Pack a :class:`TradingConfig` into the float64 parameter vector the compiled step reads."""
    p = np.zeros(NP, dtype=np.float64)
    p[P_BUY_TH] = trading.buy_threshold
    p[P_SELL_TH] = trading.sell_threshold
    p[P_SIGMA] = 1.0 if trading.threshold_unit == "sigma" else 0.0
    p[P_SL] = trading.stop_loss_threshold
    p[P_TP] = trading.take_profit_threshold
    p[P_MAX_HOLD] = trading.max_holding_bars
    p[P_VOL_MULT] = trading.volume_multiplier
    p[P_RSI_OB] = trading.rsi_overbought
    p[P_RSI_OS] = trading.rsi_oversold
    p[P_COOLDOWN] = trading.cooldown_bars
    p[P_FLATTEN] = 1.0 if trading.flatten_at_close else 0.0
    p[P_ALLOW_SHORT] = 1.0 if trading.allow_short else 0.0
    p[P_COMM_BPS] = trading.commission_bps
    p[P_COMM_SHARE] = trading.commission_per_share
    p[P_SLIP_BPS] = trading.slippage_bps
    p[P_SIZING] = 1.0 if trading.sizing == "risk" else 0.0
    p[P_POS_FRAC] = trading.position_fraction
    p[P_RISK] = trading.risk_per_trade
    p[P_MAX_POS_FRAC] = trading.max_position_fraction
    p[P_MAX_GROSS] = trading.max_gross_exposure
    p[P_MAX_OPEN] = trading.max_open_positions
    p[P_DAILY_LOSS] = trading.daily_loss_limit
    p[P_MAX_DD] = trading.max_drawdown_limit
    return p
