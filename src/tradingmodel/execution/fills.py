"""Fill model: slippage, commission and the intrabar stop / target check (compiled).

One definition used by the backtest loop and, through the same strategy step, by the live paper
broker. Conventions:

* ``side`` is the direction of the *execution*: +1 buy, -1 sell. Slippage is always adverse:
  a buy fills ``slippage_bps`` above the reference price, a sell below it.
* Commission per fill = ``qty * per_share + |qty * price| * bps / 10_000``.
* Stops and targets are checked on a bar's open, low and high; when the stop and the target are
  both inside one bar's range the stop is assumed first (pessimistic); an open beyond the stop
  (a gap) fills at the open, and an open beyond the target fills at the (better) open.
"""

from __future__ import annotations

from numba import njit

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
def check_exit(position_side: int, o: float, h: float, lo: float, stop: float,
               target: float) -> tuple[int, float]:
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
