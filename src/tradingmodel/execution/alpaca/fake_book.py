"""The fake Alpaca's broker book: orders, positions, FILL activities, the account and the fill engine.

Thread-safe (one lock); the HTTP handler and the WebSocket feed of :mod:`.fake` call into it. Prices come
from the test or the engine replay (:meth:`FakeBook.on_price`): open market orders fill at the first price
told after they were placed (so a replay fills no earlier than the next bar), resting bracket/OCO legs fire
when the price crosses them. Shapes follow ``alpaca-wire.md`` sections 3-6: numbers as strings, 9-digit
``Z`` timestamps, explicit nulls, ``order_class ""`` for a simple order, server-made UUIDs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OPEN_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel"})
DUPLICATE = {"code": 40010001, "message": "client_order_id must be unique"}


def wire_time(t: datetime | None = None) -> str:
    """RFC 3339 UTC with 9 fractional digits and ``Z``, as Alpaca sends it."""
    t = t or datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def num(x: float | None) -> str | None:
    """A number as Alpaca's string encoding (``"10"``, ``"187.25"``)."""
    if x is None:
        return None
    return str(int(x)) if float(x).is_integer() else repr(round(float(x), 9))


class BrokerError(Exception):
    """An HTTP refusal: status plus the JSON body Alpaca would send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status, self.body = status, body


@dataclass
class _Order:
    id: str
    cid: str
    symbol: str
    side: str
    type: str
    qty: float
    time_in_force: str
    order_class: str = ""
    limit_price: float | None = None
    stop_price: float | None = None
    status: str = "accepted"
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    legs: list[str] = field(default_factory=list)
    parent: str | None = None
    created_at: str = field(default_factory=wire_time)
    updated_at: str = ""
    filled_at: str | None = None
    canceled_at: str | None = None
    asset_id: str = ""
    seq: int = 0  # placement order

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at


class FakeBook:
    """One paper account. ``publish`` (set by the feed) receives every trade_updates ``data`` dict."""

    def __init__(self, *, cash: float = 100_000.0, symbols: tuple[str, ...] = ()) -> None:
        self.lock = threading.RLock()
        self.cash = cash
        self.orders: dict[str, _Order] = {}
        self.by_cid: dict[str, str] = {}
        self.positions: dict[str, list[float]] = {}  # symbol -> [signed qty, avg entry price]
        self.activities: list[dict[str, Any]] = []
        self.prices: dict[str, float] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        for s in symbols:
            self.add_asset(s)
        self.publish: Callable[[dict[str, Any]], None] = lambda data: None
        self._seq = 0
        # account and market switches
        self.account_status = "ACTIVE"
        self.trading_blocked = False
        self.shorting_enabled = True
        self.clock_open = True
        self.multiplier = 2.0
        self.buying_power_override: float | None = None  # e.g. 0 → every buy is refused 403
        self.partial_chunks = 1  # >1: a market order fills in this many executions, one per price told

    # ----------------------------------------------------------------- assets, prices, account
    def add_asset(
        self, symbol: str, *, tradable: bool = True, shortable: bool = True, fractionable: bool = True
    ) -> None:
        self.assets[symbol.upper()] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol.upper())),
            "tradable": tradable,
            "shortable": shortable,
            "fractionable": fractionable,
        }

    def asset(self, symbol: str) -> dict[str, Any]:
        a = self.assets.get(symbol.upper())
        if a is None:
            raise BrokerError(404, {"code": 40410000, "message": f"asset not found for {symbol}"})
        return {
            "id": a["id"],
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": symbol.upper(),
            "name": f"{symbol.upper()} Inc.",
            "status": "active",
            "tradable": a["tradable"],
            "marginable": True,
            "shortable": a["shortable"],
            "easy_to_borrow": a["shortable"],
            "fractionable": a["fractionable"],
            "maintenance_margin_requirement": 30,
            "attributes": [],
        }

    def market_value(self) -> tuple[float, float]:
        long_v = sum(q * self.prices.get(s, p) for s, (q, p) in self.positions.items() if q > 0)
        short_v = sum(q * self.prices.get(s, p) for s, (q, p) in self.positions.items() if q < 0)
        return long_v, short_v

    def buying_power(self) -> float:
        if self.buying_power_override is not None:
            return self.buying_power_override
        long_v, short_v = self.market_value()
        equity = self.cash + long_v + short_v
        reserved = sum(
            o.qty * self.prices.get(o.symbol, 0.0)
            for o in self.orders.values()
            if o.status in OPEN_STATUSES and o.side == "buy" and o.parent is None
        )
        return max(equity * self.multiplier - long_v + short_v - reserved, 0.0)

    def account(self) -> dict[str, Any]:
        with self.lock:
            long_v, short_v = self.market_value()
            equity = self.cash + long_v + short_v
            bp = self.buying_power()
            return {
                "id": "9f2d6a0e-6a8b-4c1e-9b4e-3d0b7c2a1f00",
                "account_number": "PA3FAKE0001",
                "status": self.account_status,
                "crypto_status": "INACTIVE",
                "currency": "USD",
                "buying_power": num(bp),
                "regt_buying_power": num(bp),
                "daytrading_buying_power": num(bp),
                "non_marginable_buying_power": num(max(self.cash, 0.0)),
                "options_buying_power": num(max(self.cash, 0)),
                "cash": num(self.cash),
                "accrued_fees": "0",
                "portfolio_value": num(equity),
                "equity": num(equity),
                "last_equity": num(equity),
                "long_market_value": num(long_v),
                "short_market_value": num(short_v),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "multiplier": num(self.multiplier),
                "pattern_day_trader": False,
                "trading_blocked": self.trading_blocked,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": self.shorting_enabled,
                "daytrade_count": 0,
                "created_at": wire_time(),
                "balance_asof": datetime.now(UTC).strftime("%Y-%m-%d"),
                "options_approved_level": 0,
                "options_trading_level": 0,
                "admin_configurations": {},
                "user_configurations": None,
            }

    def clock(self) -> dict[str, Any]:
        now = datetime.now(UTC).astimezone()
        day = now.strftime("%Y-%m-%d")
        return {
            "timestamp": now.isoformat(),
            "is_open": self.clock_open,
            "next_open": f"{day}T09:30:00-05:00",
            "next_close": f"{day}T16:00:00-05:00",
        }

    def position(self, symbol: str) -> dict[str, Any]:
        with self.lock:
            if symbol.upper() not in self.positions:
                raise BrokerError(404, {"code": 40410000, "message": "position does not exist"})
            q, avg = self.positions[symbol.upper()]
            price = self.prices.get(symbol.upper(), avg)
            held = sum(
                o.qty - o.filled_qty
                for o in self.orders.values()
                if o.symbol == symbol.upper() and o.status in OPEN_STATUSES and (o.side == "sell") == (q > 0)
            )
            return {
                "asset_id": self.assets.get(symbol.upper(), {}).get("id", str(uuid.uuid4())),
                "symbol": symbol.upper(),
                "exchange": "NASDAQ",
                "asset_class": "us_equity",
                "asset_marginable": True,
                "qty": num(q),
                "qty_available": num(q - held if q > 0 else q + held),
                "avg_entry_price": num(avg),
                "side": "long" if q > 0 else "short",
                "market_value": num(q * price),
                "cost_basis": num(q * avg),
                "unrealized_pl": num(q * (price - avg)),
                "unrealized_plpc": "0",
                "unrealized_intraday_pl": num(q * (price - avg)),
                "unrealized_intraday_plpc": "0",
                "current_price": num(price),
                "lastday_price": num(avg),
                "change_today": "0",
            }

    # ----------------------------------------------------------------- orders
    def render(self, o: _Order, *, nested: bool = False) -> dict[str, Any]:
        """The full Order object of ``alpaca-wire.md`` 4.3."""
        legs = [self.render(self.orders[x]) for x in o.legs] if nested and o.legs else None
        return {
            "id": o.id,
            "client_order_id": o.cid,
            "created_at": o.created_at,
            "updated_at": o.updated_at,
            "submitted_at": o.created_at,
            "filled_at": o.filled_at,
            "expired_at": None,
            "expires_at": o.created_at[:10] + "T21:00:00.000000000Z",
            "canceled_at": o.canceled_at,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": o.asset_id,
            "symbol": o.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": num(o.qty),
            "filled_qty": num(o.filled_qty),
            "filled_avg_price": num(o.filled_avg_price),
            "order_class": o.order_class,
            "order_type": o.type,
            "type": o.type,
            "side": o.side,
            "time_in_force": o.time_in_force,
            "limit_price": num(o.limit_price),
            "stop_price": num(o.stop_price),
            "status": o.status,
            "extended_hours": False,
            "legs": legs,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "source": None,
            "subtag": None,
            "position_intent": f"{o.side}_to_{'open' if o.parent is None else 'close'}",
        }

    def get(self, order_id: str) -> _Order:
        o = self.orders.get(order_id)
        if o is None:
            raise BrokerError(404, {"code": 40410000, "message": "order not found"})
        return o

    def by_client_id(self, cid: str) -> _Order:
        if cid not in self.by_cid:
            raise BrokerError(404, {"code": 40410000, "message": "order not found"})
        return self.orders[self.by_cid[cid]]

    def _new(self, symbol: str, side: str, type_: str, qty: float, tif: str, cid: str, **kw: Any) -> _Order:
        self._seq += 1
        o = _Order(
            id=str(uuid.uuid4()),
            cid=cid,
            symbol=symbol,
            side=side,
            type=type_,
            qty=qty,
            time_in_force=tif,
            asset_id=self.assets[symbol]["id"],
            seq=self._seq,
            **kw,
        )
        self.orders[o.id] = o
        self.by_cid[cid] = o.id
        return o

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v2/orders``: validate like Alpaca (422 / 403), place, answer ``accepted``."""
        with self.lock:
            cid = str(body.get("client_order_id") or uuid.uuid4())
            if cid in self.by_cid:
                raise BrokerError(422, dict(DUPLICATE))
            symbol = str(body.get("symbol", "")).upper()
            if symbol not in self.assets:
                raise BrokerError(422, {"code": 40010001, "message": "invalid symbol"})
            try:
                qty = float(body.get("qty"))
            except (TypeError, ValueError):
                raise BrokerError(422, {"code": 40010001, "message": "qty is required"}) from None
            if qty <= 0:
                raise BrokerError(422, {"code": 40010001, "message": "qty must be > 0"})
            side, type_ = body.get("side"), body.get("type", "market")
            if side not in ("buy", "sell") or type_ not in ("market", "limit", "stop"):
                raise BrokerError(422, {"code": 40010001, "message": "invalid side or type"})
            if not qty.is_integer() and (
                not self.assets[symbol]["fractionable"]
                or type_ != "market"
                or body.get("order_class") not in (None, "simple", "")
            ):
                raise BrokerError(422, {"code": 40010001, "message": "fractional orders must be simple market orders"})
            order_class = body.get("order_class") or ""
            order_class = "" if order_class == "simple" else order_class
            self._check_money(symbol, side, qty, order_class)
            price = lambda k: float(body[k]) if body.get(k) is not None else None  # noqa: E731
            if order_class == "oco":
                return self._submit_oco(body, symbol, side, qty, cid)
            o = self._new(
                symbol,
                side,
                type_,
                qty,
                str(body.get("time_in_force", "day")),
                cid,
                order_class=order_class,
                limit_price=price("limit_price"),
                stop_price=price("stop_price"),
            )
            if order_class == "bracket":
                tp = float(body["take_profit"]["limit_price"])
                sl = float(body["stop_loss"]["stop_price"])
                exit_side = "sell" if side == "buy" else "buy"
                for type2, kw in (("limit", {"limit_price": tp}), ("stop", {"stop_price": sl})):
                    leg = self._new(
                        symbol,
                        exit_side,
                        type2,
                        qty,
                        o.time_in_force,
                        str(uuid.uuid4()),
                        order_class="bracket",
                        status="held",
                        parent=o.id,
                        **kw,
                    )
                    o.legs.append(leg.id)
            self.publish(self._event("new", o))
            return self.render(o, nested=True)

    def _submit_oco(self, body: dict[str, Any], symbol: str, side: str, qty: float, cid: str) -> dict[str, Any]:
        if body.get("type") != "limit":
            raise BrokerError(422, {"code": 42210000, "message": "oco orders must be limit orders"})
        q = self.positions.get(symbol, [0.0])[0]
        if q == 0 or (q > 0) == (side == "buy"):
            raise BrokerError(422, {"code": 42210000, "message": "oco orders must be exit orders"})
        top = self._new(
            symbol,
            side,
            "limit",
            qty,
            str(body.get("time_in_force", "day")),
            cid,
            order_class="oco",
            limit_price=float(body["take_profit"]["limit_price"]),
            status="new",
        )
        leg = self._new(
            symbol,
            side,
            "stop",
            qty,
            top.time_in_force,
            str(uuid.uuid4()),
            order_class="oco",
            stop_price=float(body["stop_loss"]["stop_price"]),
            status="new",
            parent=top.id,
        )
        top.legs.append(leg.id)
        self.publish(self._event("new", top))
        return self.render(top, nested=True)

    def _check_money(self, symbol: str, side: str, qty: float, order_class: str) -> None:
        q = self.positions.get(symbol, [0.0])[0]
        price = self.prices.get(symbol, 0.0)
        opening = q == 0 or (q > 0) == (side == "buy")
        if order_class == "bracket" and q != 0:
            raise BrokerError(422, {"code": 42210000, "message": "bracket orders must be entry orders"})
        if not opening:
            held = sum(
                o.qty - o.filled_qty
                for o in self.orders.values()
                if o.symbol == symbol and o.status in OPEN_STATUSES and o.side == side
            )
            available = abs(q) - held
            if qty > available + 1e-9:
                raise BrokerError(
                    403,
                    {
                        "available": num(max(available, 0)),
                        "code": 40310000,
                        "existing_qty": num(abs(q)),
                        "held_for_orders": num(held),
                        "symbol": symbol,
                        "message": f"insufficient qty available for order (requested: {num(qty)}, "
                        f"available: {num(max(available, 0))})",
                    },
                )
            return
        if side == "sell" and (not self.shorting_enabled or not self.assets[symbol]["shortable"]):
            raise BrokerError(403, {"code": 40310000, "message": "account is not allowed to short"})
        cost = qty * price
        bp = self.buying_power()
        if cost > bp + 1e-9:
            raise BrokerError(
                403,
                {
                    "buying_power": num(bp),
                    "code": 40310000,
                    "cost_basis": num(cost),
                    "message": "insufficient buying power",
                },
            )

    def cancel(self, order_id: str) -> None:
        """``DELETE /v2/orders/{id}``: 204 when cancelable (the group goes with it), 422 when finished."""
        with self.lock:
            o = self.get(order_id)
            if o.status not in OPEN_STATUSES:
                raise BrokerError(422, {"code": 42210000, "message": f'order is already in "{o.status}" state'})
            root = self.orders[o.parent] if o.parent else o
            for x in [root.id, *root.legs]:
                if self.orders[x].status in OPEN_STATUSES:
                    self._end(self.orders[x], "canceled")

    def _end(self, o: _Order, status: str) -> None:
        o.status, o.updated_at = status, wire_time()
        o.canceled_at = o.updated_at if status == "canceled" else o.canceled_at
        self.publish(self._event(status, o))

    def _event(self, event: str, o: _Order, **extra: Any) -> dict[str, Any]:
        return {"event": event, "timestamp": wire_time(), "order": self.render(o), **extra}

    def close_market(self) -> None:
        """The session ends: every open day order is canceled by the broker; the clock says closed."""
        with self.lock:
            self.clock_open = False
            for o in sorted(self.orders.values(), key=lambda x: x.seq):
                if o.status in OPEN_STATUSES and o.time_in_force == "day":
                    self._end(o, "canceled")

    # ----------------------------------------------------------------- fills
    def on_price(self, symbol: str, price: float) -> int:
        """A new price (a bar's open) for ``symbol``: fill what it triggers. Returns executions made."""
        symbol = symbol.upper()
        made = 0
        with self.lock:
            self.prices[symbol] = float(price)
            for o in sorted(self.orders.values(), key=lambda x: x.seq):
                if o.symbol != symbol or o.status not in OPEN_STATUSES or o.status in ("held", "pending_cancel"):
                    continue
                px = self._trigger(o, price)
                if px is None:
                    continue
                left = o.qty - o.filled_qty
                chunk = max(float(int(o.qty / self.partial_chunks)), 1.0)
                if o.type != "market" or left < 2 * chunk:  # the last execution takes the remainder
                    chunk = left
                self._fill(o, chunk, px)
                made += 1
        return made

    @staticmethod
    def _trigger(o: _Order, price: float) -> float | None:
        if o.type == "market":
            return price
        if o.type == "limit":
            ok = price <= o.limit_price if o.side == "buy" else price >= o.limit_price  # type: ignore[operator]
            return (min(price, o.limit_price) if o.side == "buy" else max(price, o.limit_price)) if ok else None  # type: ignore[type-var]
        ok = price >= o.stop_price if o.side == "buy" else price <= o.stop_price  # type: ignore[operator]
        return price if ok else None

    def _fill(self, o: _Order, qty: float, price: float) -> None:
        now = datetime.now(UTC)
        signed = qty if o.side == "buy" else -qty
        q, avg = self.positions.get(o.symbol, [0.0, 0.0])
        new_q = q + signed
        if q == 0 or (q > 0) == (signed > 0):
            avg = (abs(q) * avg + qty * price) / abs(new_q)
        elif new_q != 0 and (new_q > 0) != (q > 0):
            avg = price
        if abs(new_q) < 1e-12:
            self.positions.pop(o.symbol, None)
        else:
            self.positions[o.symbol] = [new_q, avg]
        self.cash -= signed * price
        o.filled_avg_price = (o.filled_qty * (o.filled_avg_price or 0.0) + qty * price) / (o.filled_qty + qty)
        o.filled_qty += qty
        done = o.filled_qty >= o.qty - 1e-12
        o.status = "filled" if done else "partially_filled"
        o.updated_at = wire_time(now)
        o.filled_at = o.updated_at if done else None
        exec_id = str(uuid.uuid4())
        kind = "fill" if done else "partial_fill"
        self.activities.append(
            {
                "id": f"{now.strftime('%Y%m%d%H%M%S')}{now.microsecond // 1000:03d}::{exec_id}",
                "activity_type": "FILL",
                "transaction_time": o.updated_at,
                "type": kind,
                "price": num(price),
                "qty": num(qty),
                "side": o.side,
                "symbol": o.symbol,
                "leaves_qty": num(o.qty - o.filled_qty),
                "cum_qty": num(o.filled_qty),
                "order_id": o.id,
                "order_status": o.status,
            }
        )
        self.publish(
            self._event(kind, o, execution_id=exec_id, price=num(price), qty=num(qty), position_qty=num(new_q))
        )
        if done and o.legs and o.order_class == "bracket":  # entry filled: the take-profit leg goes live
            self.orders[o.legs[0]].status = "new"
            self.orders[o.legs[1]].status = "new"  # the stop waits at the broker (alpaca shows it held)
        if o.parent or o.order_class == "oco":  # an exit of a bracket/OCO group filled: one cancels the other
            root = self.orders[o.parent] if o.parent else o
            for x in [root.id, *root.legs]:
                if x != o.id and self.orders[x].status in OPEN_STATUSES:
                    self._end(self.orders[x], "canceled")
