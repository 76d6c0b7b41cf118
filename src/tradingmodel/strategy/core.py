"""The strategy's two compiled phases per time slice: apply the executor's fills, then decide.

This is the single implementation of the trading rules, and it never fills an order itself. For each
time slice (row ``t`` of ``mkt``: one bar per symbol, NaN close = no bar) a caller runs:

1. :func:`apply_fills` with what the executor reports for the slice's open and the bar itself: orders
   filled at the open (entries, time and halt exits), protective stop / target legs hit in the bar,
   entries rejected (e.g. for cash). Cash, positions, round trips and the logs follow the fills given.
2. :func:`decide` after the bar's close: bar counts, mark to market (equity = cash + sum of signed
   qty x last close; peak), risk state (equity at or below peak x (1 - max_drawdown_limit) halts for
   good, at or below the day's starting equity x (1 - daily_loss_limit) for the rest of the day; a
   halt cancels entries still waiting for a symbol's next bar), then per symbol with a bar: the
   session-close exit (market-on-close at the session's last bar, no entry there), the halt and
   holding-time exits (market at the next open), and entries through the risk manager (:mod:`.risk`),
   each carrying its protective stop and target. The orders go to ``out`` (see :mod:`.layout`).
   With ``P_EMULATE_EXITS`` (a live executor that cannot hold the stop and target, e.g. Alpaca with
   fractional shares; never in a backtest) entries carry no stop / target and the strategy emulates them:
   a bar whose low (long; high for a short) reached the stop, else whose high (low) reached the target,
   exits at the next open with reason ``stop`` / ``target`` (the stop when both), decided at that bar's
   close like a holding-time exit; its fill then closes the position as a resting leg's would.
3. :func:`apply_fills` again with the fills of orders executed at this close (market-on-close); a fill
   at a close marks the book again at once.

The backtest's compiled loop (:func:`tradingmodel.backtest.engine.run_rows`) puts the simulated
executor (:mod:`tradingmodel.execution.fills`) between these calls; a live engine calls the same
functions through :class:`tradingmodel.strategy.StrategyState` with fills from any executor.
Functions taking arrays are called, not inlined, per slice: a slice costs tens of nanoseconds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradingmodel.strategy import layout as L
from tradingmodel.strategy.risk import protective_levels, size_entry


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
def entry_signal(
    close: float,
    pred: float,
    rsi: float,
    volume: float,
    volume_avg: float,
    ret_std: float,
    buy_th: float,
    sell_th: float,
    sigma: bool,
    vol_mult: float,
    rsi_ob: float,
    rsi_os: float,
    allow_short: bool,
) -> int:
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


@njit(cache=True, inline="always", error_model="numpy")
def order_row(buf, i, stamp, s, side, qty, otype, purpose):
    """Write the orders-log columns ``OR_*`` of row ``i`` (an orders-log row, or an ``out`` row)."""
    buf[i, L.OR_T] = stamp
    buf[i, L.OR_SYM] = s
    buf[i, L.OR_SIDE] = side
    buf[i, L.OR_QTY] = qty
    buf[i, L.OR_TYPE] = otype
    buf[i, L.OR_PURPOSE] = purpose


@njit(cache=True, inline="always", error_model="numpy")
def fill_row(buf, i, stamp, s, side, qty, price, ref, comm, purpose):
    """Write the fill-log columns ``FL_*`` of row ``i`` (a fill-log row, or an executor's report row)."""
    buf[i, L.FL_T] = stamp
    buf[i, L.FL_SYM] = s
    buf[i, L.FL_SIDE] = side
    buf[i, L.FL_QTY] = qty
    buf[i, L.FL_PRICE] = price
    buf[i, L.FL_REF] = ref
    buf[i, L.FL_COMM] = comm
    buf[i, L.FL_SLIP] = qty * abs(price - ref)
    buf[i, L.FL_PURPOSE] = purpose


@njit(cache=True, error_model="numpy")
def _log_order(orders, counts, stamp, s, side, qty, otype, purpose):
    order_row(orders, counts[L.C_ORDERS], stamp, s, side, qty, otype, purpose)
    counts[L.C_ORDERS] += 1


@njit(cache=True, error_model="numpy")
def _log_rejection(rej, counts, stamp, s, reason):
    i = counts[L.C_REJ]
    rej[i, L.RJ_T] = stamp
    rej[i, L.RJ_SYM] = s
    rej[i, L.RJ_REASON] = reason
    counts[L.C_REJ] = i + 1


@njit(cache=True, error_model="numpy")
def _log_fill(fills, counts, stamp, s, side, qty, price, ref, comm, purpose):
    fill_row(fills, counts[L.C_FILLS], stamp, s, side, qty, price, ref, comm, purpose)
    counts[L.C_FILLS] += 1


@njit(cache=True, error_model="numpy")
def _emit(out, k, stamp, s, side, qty, otype, purpose, stop_frac, target_frac):
    """Write order ``k`` of this slice's ``out`` rows; returns ``k + 1``."""
    order_row(out, k, stamp, s, side, qty, otype, purpose)
    out[k, L.O_SL] = stop_frac
    out[k, L.O_TP] = target_frac
    return k + 1


@njit(cache=True, error_model="numpy")
def _close(s, stamp, qty, price, ref, comm, reason, sf, si, acct, p, fills, trades, counts):
    """Symbol ``s``'s position was closed at ``price``: cash, the fill and the round trip."""
    side = si[s, L.I_SIDE]
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
    if reason == L.R_STOP:  # the stop hit the bar being traded, which decide counts next: hence + 1
        si[s, L.I_COOLDOWN_UNTIL] = si[s, L.I_BAR_COUNT] + 1 + int(p[L.P_COOLDOWN])


@njit(cache=True, inline="always", error_model="numpy")
def _touched(side: int, high: float, low: float, stop: float, target: float) -> int:
    """``R_STOP`` when the bar reached the stop of a position on ``side``, else ``R_TARGET`` when it reached
    the target, else 0 (both in one bar: the stop, as the simulated executor assumes)."""
    if side > 0:
        if low <= stop:
            return L.R_STOP
        if high >= target:
            return L.R_TARGET
    else:
        if high >= stop:
            return L.R_STOP
        if low <= target:
            return L.R_TARGET
    return 0


@njit(cache=True, inline="always", error_model="numpy")
def _book_of(sf, si, s):
    """Symbol ``s``'s part of the mark: (signed value, gross value, 1 when open or an entry waits, pending
    entry notional), all at its last close."""
    side = si[s, L.I_SIDE]
    if side != 0:
        value = sf[s, L.F_QTY] * sf[s, L.F_LAST_CLOSE]
        return side * value, value, 1, 0.0
    if si[s, L.I_PENDING] == 1 or si[s, L.I_PENDING] == -1:
        return 0.0, 0.0, 1, sf[s, L.F_PEND_QTY] * sf[s, L.F_LAST_CLOSE]
    return 0.0, 0.0, 0, 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _mark(sf, si, acct):
    """Equity and gross exposure at the last closes; positions + pending entries and their notional."""
    equity, gross, count, pending = acct[L.A_CASH], 0.0, 0, 0.0
    for s in range(sf.shape[0]):
        v, g, c, pend = _book_of(sf, si, s)
        equity, gross, count, pending = equity + v, gross + g, count + c, pending + pend
    return equity, gross, count, gross + pending


@njit(cache=True, inline="always", error_model="numpy")
def _count_and_mark(mkt, t, stamp, sf, si, acct):
    """Count the bars of slice ``mkt[t]`` (bar counts, holding bars, last close) and mark the book at the
    new closes, in one pass over the symbols: what :func:`_mark` returns, with the same sums in the same
    order."""
    equity, gross, count, pending = acct[L.A_CASH], 0.0, 0, 0.0
    for s in range(sf.shape[0]):
        c = mkt[t, s, L.K_CLOSE]
        if not math.isnan(c):
            si[s, L.I_BAR_COUNT] += 1
            si[s, L.I_LAST_T] = stamp
            if si[s, L.I_SIDE] != 0:
                si[s, L.I_BARS_HELD] += 1
            sf[s, L.F_LAST_CLOSE] = c
        v, g, n, pend = _book_of(sf, si, s)
        equity, gross, count, pending = equity + v, gross + g, count + n, pending + pend
    return equity, gross, count, gross + pending


@njit(cache=True, inline="always", error_model="numpy")
def apply_fills(rep, n_rep, sf, si, acct, p, fills, trades, orders, rej, counts):
    """Apply the executor's reports ``rep[:n_rep]`` (rows: fill-log columns + status + reason) in order.

    An entry fill opens the position (stop and target from its fill price); any other fill closes the
    position and records the round trip (a stop-loss or take-profit fill also logs its order, the
    protective leg that triggered); a rejection clears the order waiting for the next open and logs
    the reason. Fills at a close (session close, end of data) mark the book again at once; fills at an
    open wait for :func:`decide`, which marks at the new closes.
    """
    at_close = False
    for k in range(n_rep):
        s = int(rep[k, L.FL_SYM])
        stamp = int(rep[k, L.FL_T])
        purpose = int(rep[k, L.FL_PURPOSE])
        if rep[k, L.X_STATUS] != L.X_FILLED:
            si[s, L.I_PENDING] = 0
            _log_rejection(rej, counts, stamp, s, int(rep[k, L.X_REASON]))
            continue
        side = int(rep[k, L.FL_SIDE])
        qty, price, ref, comm = rep[k, L.FL_QTY], rep[k, L.FL_PRICE], rep[k, L.FL_REF], rep[k, L.FL_COMM]
        if purpose == L.PURPOSE_ENTRY:
            si[s, L.I_PENDING] = 0
            acct[L.A_CASH] -= side * qty * price + comm
            sf[s, L.F_QTY] = qty
            sf[s, L.F_ENTRY_PRICE] = price
            sf[s, L.F_STOP], sf[s, L.F_TARGET] = protective_levels(price, side, p[L.P_SL], p[L.P_TP])
            sf[s, L.F_ENTRY_COMM] = comm
            si[s, L.I_SIDE] = side
            si[s, L.I_ENTRY_T] = stamp
            si[s, L.I_BARS_HELD] = 0
            _log_fill(fills, counts, stamp, s, side, qty, price, ref, comm, L.PURPOSE_ENTRY)
            continue
        if purpose == L.R_STOP or purpose == L.R_TARGET:
            if si[s, L.I_PENDING] == 2 and si[s, L.I_PEND_REASON] == purpose:
                si[s, L.I_PENDING] = 0  # the exit decide emulated (P_EMULATE_EXITS): its order is logged
            else:
                otype = L.OT_STOP if purpose == L.R_STOP else L.OT_LIMIT
                _log_order(orders, counts, stamp, s, side, qty, otype, purpose)
        elif purpose == L.R_TIME or purpose == L.R_HALT:
            si[s, L.I_PENDING] = 0
        else:
            at_close = True
        _close(s, stamp, qty, price, ref, comm, purpose, sf, si, acct, p, fills, trades, counts)
    if at_close:
        equity, gross, _, _ = _mark(sf, si, acct)
        if equity > acct[L.A_PEAK]:
            acct[L.A_PEAK] = equity
        acct[L.A_EQUITY] = equity
        acct[L.A_GROSS] = gross


@njit(cache=True, inline="always", error_model="numpy")
def decide(mkt, t, day, stamp, sf, si, acct, p, orders, rej, counts, out):
    """The decisions after the close of slice ``mkt[t]`` (session ``day``, logged at ``stamp``).

    Writes the orders to ``out`` (at most ``2 * n_symbols`` rows) and returns how many; they are also
    logged (except cancels). The caller makes sure the logs have ``2 * n_symbols + 2`` free rows.
    """
    n = mkt.shape[1]
    buy_th, sell_th, sigma = p[L.P_BUY_TH], p[L.P_SELL_TH], p[L.P_SIGMA] > 0
    vol_mult, rsi_ob, rsi_os = p[L.P_VOL_MULT], p[L.P_RSI_OB], p[L.P_RSI_OS]
    allow_short, flatten = p[L.P_ALLOW_SHORT] > 0, p[L.P_FLATTEN] > 0
    max_hold, max_dd, daily_loss = p[L.P_MAX_HOLD], p[L.P_MAX_DD], p[L.P_DAILY_LOSS]
    emulate = p[L.P_EMULATE_EXITS] > 0
    # an executor that holds no stop / target gets none with the entry (NaN: the simulated one arms none)
    sl_frac, tp_frac = (np.nan, np.nan) if emulate else (p[L.P_SL], p[L.P_TP])
    if day != acct[L.A_DAY]:
        acct[L.A_DAY] = day
        acct[L.A_DAY_START] = acct[L.A_EQUITY]
        if acct[L.A_HALTED] == 1.0:
            acct[L.A_HALTED] = 0.0
    equity, gross, open_count, committed = _count_and_mark(mkt, t, stamp, sf, si, acct)
    if equity > acct[L.A_PEAK]:
        acct[L.A_PEAK] = equity
    if acct[L.A_HALTED] < 2.0 and equity <= acct[L.A_PEAK] * (1.0 - max_dd):
        acct[L.A_HALTED] = 2.0
    elif acct[L.A_HALTED] == 0.0 and equity <= acct[L.A_DAY_START] * (1.0 - daily_loss):
        acct[L.A_HALTED] = 1.0
    halted = acct[L.A_HALTED]
    k = 0
    if halted > 0:  # no entry may fill while halted: cancel those waiting for a symbol's next bar
        for s in range(n):
            pend = si[s, L.I_PENDING]
            if pend == 1 or pend == -1:
                si[s, L.I_PENDING] = 0
                _log_rejection(rej, counts, stamp, s, L.RJ_HALTED)
                k = _emit(out, k, stamp, s, pend, sf[s, L.F_PEND_QTY], L.OT_CANCEL, L.PURPOSE_ENTRY, 0.0, 0.0)
    for s in range(n):
        c = mkt[t, s, L.K_CLOSE]
        if math.isnan(c):
            continue
        last = flatten and mkt[t, s, L.K_SESSION_LAST] > 0
        side = si[s, L.I_SIDE]
        if side != 0:
            hit = 0
            if emulate and not last:  # the executor holds no stop / target: did this bar touch one?
                if si[s, L.I_PENDING] == 2:
                    continue  # an exit is on its way to the next open
                hit = _touched(side, mkt[t, s, L.K_HIGH], mkt[t, s, L.K_LOW], sf[s, L.F_STOP], sf[s, L.F_TARGET])
            if last:
                reason, otype = L.R_SESSION, L.OT_ON_CLOSE
            elif hit != 0 or halted > 0 or si[s, L.I_BARS_HELD] >= max_hold:
                reason = hit if hit != 0 else (L.R_HALT if halted > 0 else L.R_TIME)
                otype = L.OT_NEXT_OPEN
                si[s, L.I_PENDING] = 2
                si[s, L.I_PEND_REASON] = reason
            else:
                continue
            _log_order(orders, counts, stamp, s, -side, sf[s, L.F_QTY], otype, reason)
            k = _emit(out, k, stamp, s, -side, sf[s, L.F_QTY], otype, reason, 0.0, 0.0)
            continue
        sig = entry_signal(
            c,
            mkt[t, s, L.K_PRED],
            mkt[t, s, L.K_RSI],
            mkt[t, s, L.K_VOLUME],
            mkt[t, s, L.K_VOLAVG],
            mkt[t, s, L.K_RETSTD],
            buy_th,
            sell_th,
            sigma,
            vol_mult,
            rsi_ob,
            rsi_os,
            allow_short,
        )
        if sig == 0:
            continue
        if last:
            _log_rejection(rej, counts, stamp, s, L.RJ_SESSION_END)
            continue
        in_cooldown = si[s, L.I_BAR_COUNT] < si[s, L.I_COOLDOWN_UNTIL]
        qty, code = size_entry(c, sig, equity, committed, open_count, halted, in_cooldown, p)
        if code != 0:
            _log_rejection(rej, counts, stamp, s, code)
            continue
        si[s, L.I_PENDING] = sig
        sf[s, L.F_PEND_QTY] = qty
        _log_order(orders, counts, stamp, s, sig, qty, L.OT_NEXT_OPEN, L.PURPOSE_ENTRY)
        k = _emit(out, k, stamp, s, sig, qty, L.OT_NEXT_OPEN, L.PURPOSE_ENTRY, sl_frac, tp_frac)
        open_count += 1
        committed += qty * c
    acct[L.A_EQUITY] = equity
    acct[L.A_GROSS] = gross
    acct[L.A_STEPS] += 1.0
    return k


@njit(cache=True, error_model="numpy")
def end_orders(sf, si, out):
    """End of data (or shutdown): cancel what waits for a next open and close every open position at
    its symbol's last close (reason ``end``, at that bar's stamp). Returns the number of ``out`` rows."""
    k = 0
    for s in range(sf.shape[0]):
        pend = si[s, L.I_PENDING]
        if pend != 0:
            si[s, L.I_PENDING] = 0
            purpose = L.PURPOSE_ENTRY if pend != 2 else si[s, L.I_PEND_REASON]
            side = pend if pend != 2 else -si[s, L.I_SIDE]
            k = _emit(out, k, si[s, L.I_LAST_T], s, side, sf[s, L.F_PEND_QTY], L.OT_CANCEL, purpose, 0.0, 0.0)
        side = si[s, L.I_SIDE]
        if side != 0:
            k = _emit(out, k, si[s, L.I_LAST_T], s, -side, sf[s, L.F_QTY], L.OT_ON_CLOSE, L.R_END, 0.0, 0.0)
    return k
