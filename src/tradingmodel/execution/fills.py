"""Fill model and simulated executor: slippage, commission, the intrabar stop / target check (compiled).

One definition used by the backtest loop and by the paper executor (:mod:`.simulated`). The
simulated executor keeps its own book (positions, resting stop / target pairs, orders waiting for a
next open, cash) and turns the strategy's orders into fill reports (:func:`sim_bar`,
:func:`sim_submit`). Conventions:

* ``side`` is the direction of the *execution*: +1 buy, -1 sell. Slippage is always adverse:
  a buy fills ``slippage_bps`` above the reference price, a sell below it.
* Commission per fill = ``qty * per_share + |qty * price| * bps / 10_000``.
* Stops and targets are checked on a bar's open, low and high; when the stop and the target are
  both inside one bar's range the stop is assumed first (pessimistic); an open beyond the stop
  (a gap) fills at the open, and an open beyond the target fills at the (better) open.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradingmodel.strategy import layout as L
from tradingmodel.strategy.core import fill_row
from tradingmodel.strategy.risk import protective_levels

NO_EXIT = 0
EXIT_STOP = 1
EXIT_TARGET = 2


@njit(cache=True, inline="always", error_model="numpy")
def fill_price(reference: float, side: int, slippage_bps: float) -> float:
    """Price paid (side=+1) or received (side=-1) for an execution at ``reference``."""
    return reference * (1.0 + side * slippage_bps * 1e-4)


@njit(cache=True, inline="always", error_model="numpy")
def commission(qty: float, price: float, per_share: float, bps: float) -> float:
    """Commission in dollars for one fill of ``qty`` shares at ``price``."""
    return qty * per_share + abs(qty * price) * bps * 1e-4


@njit(cache=True, inline="always", error_model="numpy")
def check_exit(position_side: int, o: float, h: float, lo: float, stop: float, target: float) -> tuple[int, float]:
    """Did this bar hit the stop or the target of a position? Returns ``(code, reference price)``.

    ``code`` is :data:`NO_EXIT`, :data:`EXIT_STOP` or :data:`EXIT_TARGET`; the price is the level
    (or the open when the bar opened beyond it). The stop is checked first.
    """
    if position_side > 0:
        if o <= stop:
            return EXIT_STOP, o
        if lo <= stop:
            return EXIT_STOP, stop
        if o >= target:
            return EXIT_TARGET, o
        if h >= target:
            return EXIT_TARGET, target
    else:
        if o >= stop:
            return EXIT_STOP, o
        if h >= stop:
            return EXIT_STOP, stop
        if o <= target:
            return EXIT_TARGET, o
        if lo <= target:
            return EXIT_TARGET, target
    return NO_EXIT, 0.0


# --- the simulated executor (backtest and paper trading) -----------------------------------------
# Its own book, apart from the strategy's: per symbol ex[s, E_*] (float64): the position it holds, the
# resting stop / target pair protecting it (one cancels the other), the order waiting for the next open
# and the last bar seen; xa[XA_*]: cash (what a long entry needs) and the costs.
E_SIDE, E_QTY, E_STOP, E_TARGET, E_PEND, E_PEND_QTY, E_PEND_PURPOSE, E_PEND_SL, E_PEND_TP = range(9)
E_LAST_CLOSE, E_LAST_T = 9, 10
NE = 11
XA_CASH, XA_SLIP_BPS, XA_COMM_SHARE, XA_COMM_BPS = range(4)
NXA = 4


@njit(cache=True, error_model="numpy")
def _report(rep, k, stamp, s, side, qty, price, ref, comm, purpose, status, reason):
    """Write report ``k`` (fill-log columns + status + reason); returns ``k + 1``."""
    fill_row(rep, k, stamp, s, side, qty, price, ref, comm, purpose)
    rep[k, L.X_STATUS] = status
    rep[k, L.X_REASON] = reason
    return k + 1


@njit(cache=True, error_model="numpy")
def _exit(s, stamp, ref, purpose, ex, xa, rep, k):
    """Close the executor's position in ``s`` at ``ref`` (plus slippage); the stop / target pair goes."""
    side = int(ex[s, E_SIDE])
    qty = ex[s, E_QTY]
    price = fill_price(ref, -side, xa[XA_SLIP_BPS])
    comm = commission(qty, price, xa[XA_COMM_SHARE], xa[XA_COMM_BPS])
    xa[XA_CASH] += side * qty * price - comm
    ex[s, E_SIDE] = 0.0
    ex[s, E_QTY] = 0.0
    ex[s, E_STOP] = np.nan
    ex[s, E_TARGET] = np.nan
    return _report(rep, k, stamp, s, -side, qty, price, ref, comm, purpose, L.X_FILLED, 0)


@njit(cache=True, error_model="numpy")
def _fill_at_open(s, stamp, o, ex, xa, rep, k):
    """The order waiting for ``s``'s next bar fills at its open ``o``: an entry (a long needs the cash)
    arms its stop / target from the fill price; an exit closes the position."""
    side = int(ex[s, E_PEND])
    qty = ex[s, E_PEND_QTY]
    purpose = int(ex[s, E_PEND_PURPOSE])
    ex[s, E_PEND] = 0.0
    if purpose != L.PURPOSE_ENTRY:
        if ex[s, E_SIDE] == 0.0:
            return _report(rep, k, stamp, s, side, qty, np.nan, o, 0.0, purpose, L.X_REJECTED, L.RJ_NO_POSITION)
        return _exit(s, stamp, o, purpose, ex, xa, rep, k)
    price = fill_price(o, side, xa[XA_SLIP_BPS])
    comm = commission(qty, price, xa[XA_COMM_SHARE], xa[XA_COMM_BPS])
    if side > 0 and xa[XA_CASH] < qty * price + comm:
        return _report(rep, k, stamp, s, side, qty, np.nan, o, 0.0, purpose, L.X_REJECTED, L.RJ_CASH)
    xa[XA_CASH] -= side * qty * price + comm
    ex[s, E_SIDE] = side
    ex[s, E_QTY] = qty
    ex[s, E_STOP], ex[s, E_TARGET] = protective_levels(price, side, ex[s, E_PEND_SL], ex[s, E_PEND_TP])
    return _report(rep, k, stamp, s, side, qty, price, o, comm, purpose, L.X_FILLED, 0)


@njit(cache=True, inline="always", error_model="numpy")
def sim_bar(mkt, t, stamp, ex, xa, rep):
    """Execute on the bars of slice ``mkt[t]`` (logged at ``stamp``); returns the reports in ``rep``.

    Per symbol with a bar, in symbol order: the order waiting for this bar fills at its open, then an
    open position's resting stop / target is checked on this bar (its entry bar included) with
    :func:`check_exit`. At most two reports per symbol.
    """
    k = 0
    for s in range(mkt.shape[1]):
        c = mkt[t, s, L.K_CLOSE]
        if math.isnan(c):
            continue
        o = mkt[t, s, L.K_OPEN]
        if ex[s, E_PEND] != 0.0:
            k = _fill_at_open(s, stamp, o, ex, xa, rep, k)
        side = int(ex[s, E_SIDE])
        if side != 0:
            code, ref = check_exit(side, o, mkt[t, s, L.K_HIGH], mkt[t, s, L.K_LOW], ex[s, E_STOP], ex[s, E_TARGET])
            if code != NO_EXIT:
                k = _exit(s, stamp, ref, L.R_STOP if code == EXIT_STOP else L.R_TARGET, ex, xa, rep, k)
        ex[s, E_LAST_CLOSE] = c
        ex[s, E_LAST_T] = stamp
    return k


@njit(cache=True, inline="always", error_model="numpy")
def sim_submit(out, n_out, ex, xa, rep):
    """Take the strategy's orders ``out[:n_out]``; returns the reports of those filled at once.

    A market-on-close order fills at the close of the symbol's last bar seen (at the order's stamp);
    a next-open order waits for the symbol's next bar (with its stop / target fractions); a cancel
    withdraws the waiting order.
    """
    k = 0
    for i in range(n_out):
        s = int(out[i, L.OR_SYM])
        otype = int(out[i, L.OR_TYPE])
        if otype == L.OT_CANCEL:
            ex[s, E_PEND] = 0.0
        elif otype == L.OT_NEXT_OPEN:
            ex[s, E_PEND] = out[i, L.OR_SIDE]
            ex[s, E_PEND_QTY] = out[i, L.OR_QTY]
            ex[s, E_PEND_PURPOSE] = out[i, L.OR_PURPOSE]
            ex[s, E_PEND_SL] = out[i, L.O_SL]
            ex[s, E_PEND_TP] = out[i, L.O_TP]
        elif ex[s, E_SIDE] == 0.0:
            k = _report(
                rep,
                k,
                out[i, L.OR_T],
                s,
                out[i, L.OR_SIDE],
                out[i, L.OR_QTY],
                np.nan,
                ex[s, E_LAST_CLOSE],
                0.0,
                out[i, L.OR_PURPOSE],
                L.X_REJECTED,
                L.RJ_NO_POSITION,
            )
        else:
            k = _exit(s, out[i, L.OR_T], ex[s, E_LAST_CLOSE], int(out[i, L.OR_PURPOSE]), ex, xa, rep, k)
    return k
