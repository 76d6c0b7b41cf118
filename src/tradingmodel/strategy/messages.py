"""What the strategy and an executor hand each other, as Python objects (a live engine's view).

Compiled code passes the same records as float64 rows (:mod:`.layout`): an order is an orders-log row
plus its stop / target fractions (``OR_*``, ``O_SL``, ``O_TP``), a report a fill-log row plus a status
and a rejection reason (``FL_*``, ``X_STATUS``, ``X_REASON``). The functions here convert one to one.
``symbol`` is always an index into the strategy's symbol list; ``side`` is the direction of the
execution (+1 buy, -1 sell); ``stamp`` is the slice the record belongs to (an int below 2**53).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from tradingmodel.strategy import layout as L
from tradingmodel.strategy.risk import protective_levels

if TYPE_CHECKING:
    from tradingmodel.execution.orders import OrderRequest

_PURPOSE_CODE = {name: code for code, name in L.PURPOSES.items()}
_TYPE_CODE = {name: code for code, name in L.ORDER_TYPES.items()}
_REASON_CODE = {name: code for code, name in L.REJECTION_REASONS.items()}
#: the strategy's purposes and order types as the executor contract (:mod:`tradingmodel.execution.orders`)
#: spells them
CONTRACT_PURPOSE = {
    "entry": "entry",
    "stop": "stop_loss",
    "target": "take_profit",
    "time": "time_exit",
    "halt": "halt_exit",
    "session_close": "session_close",
    "end": "end",
}
CONTRACT_TYPE = {"market_next_open": "market", "market_on_close": "market_on_close", "stop": "stop", "limit": "limit"}


@dataclass(frozen=True)
class Order:
    """An order decided by the strategy.

    ``type``: ``market_next_open`` (fill at the symbol's next bar's open), ``market_on_close`` (fill
    at the close of the bar just decided: session close, end of data) or ``cancel`` (withdraw this
    symbol's order still waiting for its next open). An entry carries its protective exits as
    fractions of its fill price: the executor rests a stop and a limit (one cancels the other) at
    :meth:`protective_levels` of the fill. When the strategy emulates the exits (``P_EMULATE_EXITS``: the
    executor holds none) they are NaN and a stop / target is an exit order of its own (``market_next_open``).
    """

    symbol: int
    side: int
    qty: float
    type: str
    purpose: str
    stamp: int
    stop_loss: float | None = None
    take_profit: float | None = None

    def protective_levels(self, fill_price: float) -> tuple[float, float]:
        """(stop price, target price) for this entry filled at ``fill_price``."""
        if self.stop_loss is None or self.take_profit is None:
            raise ValueError(f"order for symbol {self.symbol} ({self.purpose}) has no stop / target")
        return protective_levels(fill_price, self.side, self.stop_loss, self.take_profit)

    def to_request(
        self, client_order_id: str, symbol: str, bar_time: datetime, reference_price: float | None = None
    ) -> OrderRequest:
        """This order in the executor contract's terms. ``reference_price`` (e.g. the decision bar's
        close) gives an entry's stop_loss / take_profit price estimates for a broker that needs them up
        front; the simulated executors set them from the actual fill price."""
        from tradingmodel.execution.orders import OrderRequest

        if self.type == "cancel":
            raise ValueError(f"a cancel is not an order request (symbol {symbol})")
        stop = target = None
        if self.purpose == "entry" and reference_price is not None:
            stop, target = self.protective_levels(reference_price)
        return OrderRequest(
            client_order_id=client_order_id,
            symbol=symbol,
            side="buy" if self.side > 0 else "sell",
            quantity=self.qty,
            order_type=CONTRACT_TYPE[self.type],
            purpose=CONTRACT_PURPOSE[self.purpose],
            bar_time=bar_time,
            stop_loss=stop,
            take_profit=target,
        )


@dataclass(frozen=True)
class Fill:
    """One execution reported by an executor: whole orders (a broker adapter adds up partial fills)."""

    symbol: int
    side: int
    qty: float
    price: float
    reference_price: float
    commission: float
    purpose: str
    stamp: int


@dataclass(frozen=True)
class Rejection:
    """An order the executor refused (``reason``: e.g. ``insufficient_cash``, ``no_position``)."""

    symbol: int
    side: int
    qty: float
    purpose: str
    stamp: int
    reason: str


Report = Fill | Rejection


def orders_from_rows(out: np.ndarray) -> list[Order]:
    """``out`` rows (OR_* + O_SL / O_TP) as :class:`Order` objects."""
    orders = []
    for r in out:
        purpose = L.PURPOSES[int(r[L.OR_PURPOSE])]
        entry = purpose == "entry" and int(r[L.OR_TYPE]) != L.OT_CANCEL
        orders.append(
            Order(
                symbol=int(r[L.OR_SYM]),
                side=int(r[L.OR_SIDE]),
                qty=float(r[L.OR_QTY]),
                type=L.ORDER_TYPES[int(r[L.OR_TYPE])],
                purpose=purpose,
                stamp=int(r[L.OR_T]),
                stop_loss=float(r[L.O_SL]) if entry else None,
                take_profit=float(r[L.O_TP]) if entry else None,
            )
        )
    return orders


def order_rows(orders: Sequence[Order]) -> np.ndarray:
    """:class:`Order` objects as ``out`` rows (the input of a compiled executor)."""
    out = np.zeros((len(orders), L.NOUT))
    for i, o in enumerate(orders):
        out[i, L.OR_T], out[i, L.OR_SYM], out[i, L.OR_SIDE], out[i, L.OR_QTY] = o.stamp, o.symbol, o.side, o.qty
        out[i, L.OR_TYPE], out[i, L.OR_PURPOSE] = _TYPE_CODE[o.type], _PURPOSE_CODE[o.purpose]
        out[i, L.O_SL] = o.stop_loss or 0.0
        out[i, L.O_TP] = o.take_profit or 0.0
    return out


def reports_from_rows(rep: np.ndarray) -> list[Report]:
    """Report rows (FL_* + X_STATUS / X_REASON) as :class:`Fill` / :class:`Rejection` objects."""
    reports: list[Report] = []
    for r in rep:
        common = {
            "symbol": int(r[L.FL_SYM]),
            "side": int(r[L.FL_SIDE]),
            "qty": float(r[L.FL_QTY]),
            "purpose": L.PURPOSES[int(r[L.FL_PURPOSE])],
            "stamp": int(r[L.FL_T]),
        }
        if int(r[L.X_STATUS]) == L.X_FILLED:
            reports.append(
                Fill(
                    price=float(r[L.FL_PRICE]),
                    reference_price=float(r[L.FL_REF]),
                    commission=float(r[L.FL_COMM]),
                    **common,
                )
            )
        else:
            reports.append(Rejection(reason=L.REJECTION_REASONS[int(r[L.X_REASON])], **common))
    return reports


def report_rows(reports: Iterable[Report]) -> np.ndarray:
    """:class:`Fill` / :class:`Rejection` objects as report rows (the input of ``apply_fills``)."""
    reports = list(reports)
    rep = np.zeros((len(reports), L.NX))
    for i, x in enumerate(reports):
        rep[i, L.FL_T], rep[i, L.FL_SYM], rep[i, L.FL_SIDE], rep[i, L.FL_QTY] = x.stamp, x.symbol, x.side, x.qty
        rep[i, L.FL_PURPOSE] = _PURPOSE_CODE[x.purpose]
        if isinstance(x, Fill):
            rep[i, L.FL_PRICE], rep[i, L.FL_REF], rep[i, L.FL_COMM] = x.price, x.reference_price, x.commission
            rep[i, L.FL_SLIP] = x.qty * abs(x.price - x.reference_price)
            rep[i, L.X_STATUS] = L.X_FILLED
        else:
            rep[i, L.FL_PRICE] = np.nan
            rep[i, L.X_STATUS], rep[i, L.X_REASON] = L.X_REJECTED, _REASON_CODE[x.reason]
    return rep
