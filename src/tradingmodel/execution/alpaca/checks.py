"""Alpaca's pre-trade checks: the account may trade and the market is open (at start), each symbol is known and
tradable (at start and per order) and shortable for a short entry (per order), and the quantity an order can
have there (whole shares unless fractional trading is on; never a fraction sold short)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tradingmodel.execution.alpaca.client import Refused, Rest
from tradingmodel.execution.alpaca.sync import EPS
from tradingmodel.execution.base import ExecutorError
from tradingmodel.execution.orders import OrderRequest


def order_quantity(order: OrderRequest, fractional: bool, asset: dict[str, Any]) -> tuple[float, str | None]:
    """The quantity to send for ``order`` and None, or ``(0, why)`` when it is below what Alpaca takes: with
    ``fractional`` a fractionable asset takes fractions, except in a short sale (Alpaca lends no fractions of a
    share: a short entry is floored to whole shares); otherwise whole shares (floored). A quantity that is not
    positive goes as it is (Alpaca's 422 says why)."""
    qty = order.quantity
    if not qty > 0:
        return qty, None
    short = order.purpose == "entry" and order.side == "sell"
    if fractional and asset.get("fractionable", False) and not short:
        return qty, None
    whole = float(math.floor(qty + EPS))
    if whole > 0:
        return whole, None
    if not fractional:
        why = "fractional trading is off"
    elif short:
        why = "Alpaca does not sell fractional shares short"
    else:
        why = f"{order.symbol} is not fractionable at Alpaca"
    return 0.0, f"quantity {qty:g} is below one whole share ({why})"


def check_account(acct: dict[str, Any], clock: dict[str, Any], *, require_open: bool) -> None:
    """:class:`ExecutorError` naming the problem when the account cannot trade now."""
    if acct.get("status") != "ACTIVE":
        raise ExecutorError(f"Alpaca account {acct.get('account_number')} is {acct.get('status')}, not ACTIVE")
    if acct.get("trading_blocked") or acct.get("account_blocked") or acct.get("trade_suspended_by_user"):
        raise ExecutorError(f"Alpaca account {acct.get('account_number')} is blocked from trading")
    if require_open and not clock.get("is_open"):
        raise ExecutorError(
            f"the market is closed (Alpaca clock at {clock.get('timestamp')}; next open {clock.get('next_open')})"
        )


class PreTrade:
    """The per-symbol checks of :class:`~.executor.AlpacaExecutor` (its ``rest``, ``assets``, ``shorting``)."""

    rest: Rest
    assets: dict[str, dict[str, Any]]
    shorting: bool

    async def check_symbols(self, symbols: Sequence[str], *, short: bool) -> list[str]:
        """Before the first slice: each symbol known and tradable at Alpaca (:class:`ExecutorError` naming the
        first that is not); returns warnings for symbols that cannot be sold short when ``short`` (their short
        entries will be refused, with that message, per order)."""
        notes = []
        for sym in symbols:
            try:
                a = self.assets.get(sym.upper()) or await self.rest.call(self.rest.client.get_asset, sym.upper())
            except Refused as e:
                raise ExecutorError(f"{sym}: Alpaca does not know this symbol ({e.message})") from None
            self.assets[sym.upper()] = a
            if not a.get("tradable") or a.get("status") != "active":
                raise ExecutorError(
                    f"{sym} is not tradable at Alpaca (status {a.get('status')}); drop it from --symbols"
                )
            if short and not (a.get("shortable") and self.shorting):
                notes.append(f"{sym} cannot be sold short at Alpaca: its short entries will be refused")
        return notes

    async def _pretrade(self, order: OrderRequest) -> str | None:
        sym = order.symbol.upper()
        if sym not in self.assets:
            try:
                self.assets[sym] = await self.rest.call(self.rest.client.get_asset, sym)
            except Refused as e:
                return f"{sym}: Alpaca does not know this symbol ({e.message})"
        a = self.assets[sym]
        if not a.get("tradable") or a.get("status") != "active":
            return f"{sym} is not tradable at Alpaca (status {a.get('status')})"
        if order.purpose == "entry" and order.side == "sell" and not (a.get("shortable") and self.shorting):
            return (
                f"{sym} cannot be sold short (asset shortable={a.get('shortable')}, account shorting={self.shorting})"
            )
        return None
