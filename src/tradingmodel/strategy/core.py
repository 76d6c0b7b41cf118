"""The strategy step: one time slice of bars (all symbols) through the per-symbol state machines.

This is the single implementation of the trading rules. :func:`step` processes a range of rows of
the time axis: the backtest passes the whole history in one call, a live engine passes one row
per completed bar time (through :func:`tradingmodel.strategy.state.step`). The loop over rows is
inside the function on purpose: calling a compiled function per row, or inlining it, makes numba
reference-count every array argument on each row, which cost 3x the run time.

For each row ``t`` of ``mkt``, in order:

1. **Open of each bar**: the order decided at the previous bar of that symbol fills at this open
   (entry with slippage and commission, or a time / halt exit); then an open position's stop and
   target are checked on this bar (stop first; a gap fills at the open).
2. **Mark to market**: equity = cash + sum(signed qty x last close); peak equity is updated.
3. **Risk state**: equity at or below peak x (1 - max_drawdown_limit) halts for good; at or below
   the day's starting equity x (1 - daily_loss_limit) halts for the rest of the day. Halting
   sends an exit for every open position (filled at each symbol's next open) and cancels entries
   still waiting for a symbol's next bar (rejection ``halted``).
4. **Close of each bar** (decisions): with ``flatten_at_close`` a position is closed at the close
   of the session's last bar (market-on-close) and no entry is taken there; a position held
   ``max_holding_bars`` bars gets an exit for the next open; a flat symbol whose bar and
   prediction pass the entry rules sends an entry through the risk manager (:mod:`.risk`).

A symbol without a bar in the slice (its close is NaN) is left untouched.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradingmodel.execution.fills import EXIT_STOP, NO_EXIT, check_exit, commission, fill_price
from tradingmodel.strategy import layout as L
from tradingmodel.strategy.risk import size_entry


@njit(cache=True, error_model="numpy")
def grow_log(buf, need):
    """``buf`` itself, or a copy with at least ``need`` rows (doubling, contents kept, same dtype).

    Used between calls of :func:`step` by the backtest loop and by the live wrapper alike."""
    if need <= buf.shape[0]:
        return buf
    out = np.zeros((max(need, 2 * buf.shape[0]), buf.shape[1]), dtype=buf.dtype)
    out[: buf.shape[0]] = buf
    return out


@njit(cache=True, inline="always", error_model="numpy")
def entry_signal(close: float, pred: float, rsi: float, volume: float, volume_avg: float, ret_std: float,
                 buy_th: float, sell_th: float, sigma: bool, vol_mult: float, rsi_ob: float, rsi_os: float,
                 allow_short: bool) -> int:
    """+1 long, -1 short or 0: the entry rules on one bar's close and its prediction.

    Long: pred > close x (1 + buy_threshold / 100) (or x (1 + buy_threshold x ret_std20) with
    ``threshold_unit="sigma"``), RSI < rsi_overbought and volume > volume_multiplier x its 20-bar
    mean. Short mirrors it with sell_threshold and RSI > rsi_oversold. Any NaN input (warm-up,
    no prediction) means no entry. Scalars only, so that inlining it costs nothing.
    """
    if math.isnan(pred) or math.isnan(rsi) or math.isnan(volume_avg) or math.isnan(close):
        return 0
    if not volume > vol_mult * volume_avg:
        return 0
    if sigma:
        if math.isnan(ret_std):
            return 0
        up = close * (1.0 + buy_th * ret_std)
        down = close * (1.0 - sell_th * ret_std)
    else:
        up = close * (1.0 + buy_th * 0.01)
        down = close * (1.0 - sell_th * 0.01)
    if pred > up and rsi < rsi_ob:
        return 1
    if allow_short and pred < down and rsi > rsi_os:
        return -1
    return 0


@njit(cache=True, error_model="numpy")
def _log_order(orders, counts, stamp, s, side, qty, otype, purpose):
    i = counts[L.C_ORDERS]
    orders[i, L.OR_T] = stamp
    orders[i, L.OR_SYM] = s
    orders[i, L.OR_SIDE] = side
    orders[i, L.OR_QTY] = qty
    orders[i, L.OR_TYPE] = otype
    orders[i, L.OR_PURPOSE] = purpose
    counts[L.C_ORDERS] = i + 1


@njit(cache=True, error_model="numpy")
def _log_rejection(rej, counts, stamp, s, reason):
    i = counts[L.C_REJ]
    rej[i, L.RJ_T] = stamp
    rej[i, L.RJ_SYM] = s
    rej[i, L.RJ_REASON] = reason
    counts[L.C_REJ] = i + 1


@njit(cache=True, error_model="numpy")
def _log_fill(fills, counts, stamp, s, side, qty, price, ref, comm, purpose):
    i = counts[L.C_FILLS]
    fills[i, L.FL_T] = stamp
    fills[i, L.FL_SYM] = s
    fills[i, L.FL_SIDE] = side
    fills[i, L.FL_QTY] = qty
    fills[i, L.FL_PRICE] = price
    fills[i, L.FL_REF] = ref
    fills[i, L.FL_COMM] = comm
    fills[i, L.FL_SLIP] = qty * abs(price - ref)
    fills[i, L.FL_PURPOSE] = purpose
    counts[L.C_FILLS] = i + 1


@njit(cache=True, error_model="numpy")
def _open(s, stamp, side, qty, ref, sf, si, acct, p, fills, rej, counts):
    """Fill an entry of ``qty`` shares at ``ref`` (plus slippage); a long needs the cash."""
    price = fill_price(ref, side, p[L.P_SLIP_BPS])
    comm = commission(qty, price, p[L.P_COMM_SHARE], p[L.P_COMM_BPS])
    if side > 0 and acct[L.A_CASH] < qty * price + comm:
        _log_rejection(rej, counts, stamp, s, L.RJ_CASH)
        return
    acct[L.A_CASH] -= side * qty * price + comm
    sf[s, L.F_QTY] = qty
    sf[s, L.F_ENTRY_PRICE] = price
    sf[s, L.F_STOP] = price * (1.0 - side * p[L.P_SL])
    sf[s, L.F_TARGET] = price * (1.0 + side * p[L.P_TP])
    sf[s, L.F_ENTRY_COMM] = comm
    si[s, L.I_SIDE] = side
    si[s, L.I_ENTRY_T] = stamp
    si[s, L.I_BARS_HELD] = 0
    _log_fill(fills, counts, stamp, s, side, qty, price, ref, comm, L.PURPOSE_ENTRY)


@njit(cache=True, error_model="numpy")
def _close(s, stamp, ref, reason, sf, si, acct, p, fills, trades, counts):
    """Close symbol ``s``'s position at ``ref`` (plus slippage) and record the round trip."""
    side = si[s, L.I_SIDE]
    qty = sf[s, L.F_QTY]
    price = fill_price(ref, -side, p[L.P_SLIP_BPS])
    comm = commission(qty, price, p[L.P_COMM_SHARE], p[L.P_COMM_BPS])
    acct[L.A_CASH] += side * qty * price - comm
    entry = sf[s, L.F_ENTRY_PRICE]
    total_comm = sf[s, L.F_ENTRY_COMM] + comm
    pnl = side * (price - entry) * qty - total_comm
    _log_fill(fills, counts, stamp, s, -side, qty, price, ref, comm, reason)
    i = counts[L.C_TRADES]
    trades[i, L.TR_SYM] = s
    trades[i, L.TR_SIDE] = side
    trades[i, L.TR_ENTRY_T] = si[s, L.I_ENTRY_T]
    trades[i, L.TR_ENTRY_PRICE] = entry
    trades[i, L.TR_EXIT_T] = stamp
    trades[i, L.TR_EXIT_PRICE] = price
    trades[i, L.TR_QTY] = qty
    trades[i, L.TR_PNL] = pnl
    trades[i, L.TR_RET_PCT] = 100.0 * pnl / (entry * qty)
    trades[i, L.TR_COMM] = total_comm
    trades[i, L.TR_REASON] = reason
    counts[L.C_TRADES] = i + 1
    si[s, L.I_SIDE] = 0
    si[s, L.I_BARS_HELD] = 0
    sf[s, L.F_QTY] = 0.0
    if reason == L.R_STOP:
        si[s, L.I_COOLDOWN_UNTIL] = si[s, L.I_BAR_COUNT] + int(p[L.P_COOLDOWN])


@njit(cache=True, inline="always", error_model="numpy")
def _mark(sf, si, acct):
    """Equity and gross exposure at the last closes; positions + pending entries and their notional."""
    equity = acct[L.A_CASH]
    gross = 0.0
    count = 0
    pending = 0.0
    for s in range(sf.shape[0]):
        side = si[s, L.I_SIDE]
        if side != 0:
            value = sf[s, L.F_QTY] * sf[s, L.F_LAST_CLOSE]
            equity += side * value
            gross += value
            count += 1
        elif si[s, L.I_PENDING] == 1 or si[s, L.I_PENDING] == -1:
            count += 1
            pending += sf[s, L.F_PEND_QTY] * sf[s, L.F_LAST_CLOSE]
    return equity, gross, count, gross + pending


@njit(cache=True, error_model="numpy")
def step(mkt, days, t_start, t_stop, stamp_offset, sf, si, acct, p, fills, trades, orders, rej, counts, curve):
    """Advance every symbol through the bar slices ``mkt[t_start:t_stop]`` (see the module docstring).

    ``days[t]`` identifies the trading session of row t (daily loss limit); events are logged at
    ``t + stamp_offset``; ``curve[t]`` receives (equity, cash, gross exposure) after row t.
    Returns the next row to process: ``t_stop``, or earlier when a log has fewer than
    ``2 * n_symbols + 2`` free rows (grow it and call again). The loop lives inside this function
    so that the backtest (whole history) and a live engine (one row) run the very same code.
    """
    n = mkt.shape[1]
    extra = 2 * n + 2
    buy_th, sell_th, sigma = p[L.P_BUY_TH], p[L.P_SELL_TH], p[L.P_SIGMA] > 0
    vol_mult, rsi_ob, rsi_os = p[L.P_VOL_MULT], p[L.P_RSI_OB], p[L.P_RSI_OS]
    allow_short, flatten = p[L.P_ALLOW_SHORT] > 0, p[L.P_FLATTEN] > 0
    max_hold, max_dd, daily_loss = p[L.P_MAX_HOLD], p[L.P_MAX_DD], p[L.P_DAILY_LOSS]
    t = t_start
    while t < t_stop:
        if (counts[L.C_FILLS] + extra > fills.shape[0] or counts[L.C_TRADES] + extra > trades.shape[0]
                or counts[L.C_ORDERS] + extra > orders.shape[0] or counts[L.C_REJ] + extra > rej.shape[0]):
            return t
        stamp = t + stamp_offset
        day = days[t]
        if day != acct[L.A_DAY]:
            acct[L.A_DAY] = day
            acct[L.A_DAY_START] = acct[L.A_EQUITY]
            if acct[L.A_HALTED] == 1.0:
                acct[L.A_HALTED] = 0.0
        # 1. opens: pending orders fill, then stops and targets
        for s in range(n):
            c = mkt[t, s, L.K_CLOSE]
            if math.isnan(c):
                continue
            si[s, L.I_BAR_COUNT] += 1
            si[s, L.I_LAST_T] = stamp
            o = mkt[t, s, L.K_OPEN]
            pend = si[s, L.I_PENDING]
            if pend != 0:
                si[s, L.I_PENDING] = 0
                if pend == 2:
                    if si[s, L.I_SIDE] != 0:
                        _close(s, stamp, o, si[s, L.I_PEND_REASON], sf, si, acct, p, fills, trades, counts)
                else:
                    _open(s, stamp, pend, sf[s, L.F_PEND_QTY], o, sf, si, acct, p, fills, rej, counts)
            side = si[s, L.I_SIDE]
            if side != 0:
                code, ref = check_exit(side, o, mkt[t, s, L.K_HIGH], mkt[t, s, L.K_LOW], sf[s, L.F_STOP],
                                       sf[s, L.F_TARGET])
                if code != NO_EXIT:
                    reason = L.R_STOP if code == EXIT_STOP else L.R_TARGET
                    otype = L.OT_STOP if code == EXIT_STOP else L.OT_LIMIT
                    _log_order(orders, counts, stamp, s, -side, sf[s, L.F_QTY], otype, reason)
                    _close(s, stamp, ref, reason, sf, si, acct, p, fills, trades, counts)
                else:
                    si[s, L.I_BARS_HELD] += 1
            sf[s, L.F_LAST_CLOSE] = c
        # 2. mark to market
        equity, gross, open_count, committed = _mark(sf, si, acct)
        if equity > acct[L.A_PEAK]:
            acct[L.A_PEAK] = equity
        # 3. risk state
        if acct[L.A_HALTED] < 2.0 and equity <= acct[L.A_PEAK] * (1.0 - max_dd):
            acct[L.A_HALTED] = 2.0
        elif acct[L.A_HALTED] == 0.0 and equity <= acct[L.A_DAY_START] * (1.0 - daily_loss):
            acct[L.A_HALTED] = 1.0
        halted = acct[L.A_HALTED]
        if halted > 0:  # no entry may fill while halted: cancel those waiting for a symbol's next bar
            for s in range(n):
                if si[s, L.I_PENDING] == 1 or si[s, L.I_PENDING] == -1:
                    si[s, L.I_PENDING] = 0
                    _log_rejection(rej, counts, stamp, s, L.RJ_HALTED)
        # 4. closes: decisions
        closed_on_close = False
        for s in range(n):
            c = mkt[t, s, L.K_CLOSE]
            if math.isnan(c):
                continue
            last = flatten and mkt[t, s, L.K_SESSION_LAST] > 0
            side = si[s, L.I_SIDE]
            if side != 0:
                if last:
                    _log_order(orders, counts, stamp, s, -side, sf[s, L.F_QTY], L.OT_ON_CLOSE, L.R_SESSION)
                    _close(s, stamp, c, L.R_SESSION, sf, si, acct, p, fills, trades, counts)
                    closed_on_close = True
                elif halted > 0 or si[s, L.I_BARS_HELD] >= max_hold:
                    reason = L.R_HALT if halted > 0 else L.R_TIME
                    si[s, L.I_PENDING] = 2
                    si[s, L.I_PEND_REASON] = reason
                    _log_order(orders, counts, stamp, s, -side, sf[s, L.F_QTY], L.OT_NEXT_OPEN, reason)
                continue
            sig = entry_signal(c, mkt[t, s, L.K_PRED], mkt[t, s, L.K_RSI], mkt[t, s, L.K_VOLUME],
                               mkt[t, s, L.K_VOLAVG], mkt[t, s, L.K_RETSTD], buy_th, sell_th, sigma, vol_mult,
                               rsi_ob, rsi_os, allow_short)
            if sig == 0:
                continue
            if last:
                _log_rejection(rej, counts, stamp, s, L.RJ_SESSION_END)
                continue
            in_cooldown = si[s, L.I_BAR_COUNT] < si[s, L.I_COOLDOWN_UNTIL]
            qty, code = size_entry(c, equity, committed, open_count, halted, in_cooldown, p)
            if code != 0:
                _log_rejection(rej, counts, stamp, s, code)
                continue
            si[s, L.I_PENDING] = sig
            sf[s, L.F_PEND_QTY] = qty
            _log_order(orders, counts, stamp, s, sig, qty, L.OT_NEXT_OPEN, L.PURPOSE_ENTRY)
            open_count += 1
            committed += qty * c
        if closed_on_close:  # a market-on-close exit changed cash and positions: mark again
            equity, gross, _, _ = _mark(sf, si, acct)
            if equity > acct[L.A_PEAK]:
                acct[L.A_PEAK] = equity
        acct[L.A_EQUITY] = equity
        acct[L.A_GROSS] = gross
        acct[L.A_STEPS] += 1.0
        curve[t, 0] = equity
        curve[t, 1] = acct[L.A_CASH]
        curve[t, 2] = gross
        t += 1
    return t


@njit(cache=True, error_model="numpy")
def close_all(sf, si, acct, p, fills, trades, counts):
    """End of data: close every open position at its symbol's last close (reason ``end``)."""
    for s in range(sf.shape[0]):
        si[s, L.I_PENDING] = 0
        if si[s, L.I_SIDE] != 0:
            _close(s, si[s, L.I_LAST_T], sf[s, L.F_LAST_CLOSE], L.R_END, sf, si, acct, p, fills, trades, counts)
    equity, gross, _, _ = _mark(sf, si, acct)
    acct[L.A_EQUITY] = equity
    acct[L.A_GROSS] = gross

