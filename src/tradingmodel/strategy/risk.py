"""Risk manager on the order path (compiled): may this entry go out, and with how many shares?

Checked in this order, the first failure is the recorded reason:

1. trading HALTED (daily loss limit: rest of the day; drawdown limit: for good) -> ``halted``
2. cooldown after a stop-out on this symbol -> ``cooldown``
3. open positions + pending entries already at ``max_open_positions`` -> ``max_open_positions``
4. equity not positive -> ``no_equity``
5. size: ``sizing="fraction"``: notional = position_fraction x equity; ``sizing="risk"``:
   notional = risk_per_trade x equity / stop_loss_threshold (the loss at the stop is then
   risk_per_trade x equity, before gaps and costs). The notional is capped at
   max_position_fraction x equity and at the room left under max_gross_exposure x equity
   (gross = sum of |notional| of open positions and pending entries). Shares are whole:
   ``floor(notional / price)``; zero shares -> ``max_gross_exposure`` when the gross cap was the
   binding one, else ``size_below_one_share``. With ``P_FRACTIONAL`` (a live executor that takes fractional
   quantities; never in a backtest) a *long* entry is sized in millionths of a share, refused below $1 of
   notional; a short stays whole shares (brokers lend no fractions of a share).

:func:`protective_levels` turns an entry's stop / target fractions into price levels from its fill
price; the strategy (its book) and every executor (the resting orders) use this one definition.
"""

from __future__ import annotations

import math

from numba import njit

from tradingmodel.strategy.layout import (
    P_FRACTIONAL,
    P_MAX_GROSS,
    P_MAX_OPEN,
    P_MAX_POS_FRAC,
    P_POS_FRAC,
    P_RISK,
    P_SIZING,
    P_SL,
    RJ_COOLDOWN,
    RJ_HALTED,
    RJ_MAX_GROSS,
    RJ_MAX_OPEN,
    RJ_NO_EQUITY,
    RJ_SIZE_ZERO,
)


@njit(cache=True, inline="always", error_model="numpy")
def protective_levels(fill_price: float, side: int, stop_frac: float, target_frac: float) -> tuple[float, float]:
    """(stop, target) of a position entered at ``fill_price``: ``stop_frac`` against it, ``target_frac``
    in its favour (``side`` +1 long, -1 short)."""
    return fill_price * (1.0 - side * stop_frac), fill_price * (1.0 + side * target_frac)


@njit(cache=True, error_model="numpy")
def size_entry(
    price: float,
    side: int,
    equity: float,
    gross_committed: float,
    open_count: int,
    halted: float,
    in_cooldown: bool,
    p,
) -> tuple[float, int]:
    """Shares for a new entry (``side`` +1 long, -1 short) at about ``price``, or ``(0, reason code)``."""
    if halted > 0:
        return 0.0, RJ_HALTED
    if in_cooldown:
        return 0.0, RJ_COOLDOWN
    if open_count >= p[P_MAX_OPEN]:
        return 0.0, RJ_MAX_OPEN
    if not equity > 0.0:
        return 0.0, RJ_NO_EQUITY
    notional = p[P_RISK] * equity / p[P_SL] if p[P_SIZING] > 0 else p[P_POS_FRAC] * equity
    cap = p[P_MAX_POS_FRAC] * equity
    if notional > cap:
        notional = cap
    room = p[P_MAX_GROSS] * equity - gross_committed
    gross_bound = False
    if notional >= room:
        notional = room
        gross_bound = True
    if p[P_FRACTIONAL] > 0 and side > 0:  # millionths of a share, at least $1 (a broker's fractional minimum)
        qty = math.floor(notional / price * 1e6 + 1e-3) / 1e6 if notional >= 1.0 else 0.0
        if qty <= 0.0:
            return 0.0, RJ_MAX_GROSS if gross_bound else RJ_SIZE_ZERO
        return qty, 0
    # the tiny epsilon keeps exact multiples (1000 / 100) from flooring to 9 by rounding
    qty = math.floor(notional / price + 1e-9) if notional > 0 else 0.0
    if qty < 1.0:
        return 0.0, RJ_MAX_GROSS if gross_bound else RJ_SIZE_ZERO
    return qty, 0
