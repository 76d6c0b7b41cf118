"""A loopback fake of Alpaca's Trading API (REST + trade_updates WebSocket) for tests, replays and benchmarks.

The official ``alpaca-py`` client talks to it unchanged through its URL overrides::

    with FakeAlpaca(symbols=("AAPL",)) as fake:
        TradingClient("k", "s", paper=True, url_override=fake.base_url).get_account()
        TradingStream("k", "s", url_override=fake.stream_url)

It binds **127.0.0.1 only** on free ports and runs in daemon threads. The book (orders, positions, FILL
activities, account) is :class:`~.fake_book.FakeBook`; prices come from :meth:`FakeAlpaca.price` or, from
another process, ``POST /_fake/prices {"AAPL": 187.2}`` (``/_fake/close`` ends the session).

REST fault switches: :meth:`accept_then_504` (the order is placed, the answer is a gateway's HTML 504),
:meth:`fail_next` (e.g. 429 bursts), :meth:`hang_next` (accept and answer late), ``book.buying_power_override``
(403), ``book.partial_chunks`` (partial fills), :meth:`FakeBook.close_market` (open orders canceled at the
close). Stream switches live on :class:`~.fake_ws.FakeTradeStream` (``fake.stream``).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tradingmodel.execution.alpaca.fake_book import OPEN_STATUSES, BrokerError, FakeBook, wire_time
from tradingmodel.execution.alpaca.fake_ws import FakeTradeStream
from tradingmodel.loopback import LoopbackService

GATEWAY_504 = (
    b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
    b"</center></body></html>"
)
_ORDER = re.compile(r"^/v2/orders/([0-9a-f-]{36})$")


class FakeAlpaca(LoopbackService):
    """REST on ``base_url`` (``http://127.0.0.1:PORT``), the trade stream on ``stream_url``."""

    def __init__(
        self,
        *,
        symbols: tuple[str, ...] = (),
        key_id: str = "fake-key",
        secret_key: str = "fake-secret",
        cash: float = 100_000.0,
    ) -> None:
        self.key_id, self.secret_key = key_id, secret_key
        self.book = FakeBook(cash=cash, symbols=tuple(s.upper() for s in symbols))
        self.stream = FakeTradeStream(key_id, secret_key)
        self.book.publish = self.stream.publish
        self._faults: deque[tuple[str, int, float]] = deque()  # (kind, status, seconds)
        self._fault_lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []  # (method, path?query, status)
        self.responses: list[tuple[str, str, int, Any]] = []  # (method, path, status, decoded JSON body)

    # ----------------------------------------------------------------- lifecycle (LoopbackService)
    _thread_name = "fake-alpaca-rest"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"fake": self})

    def _socket_side(self) -> FakeTradeStream:
        return self.stream

    @property
    def stream_url(self) -> str:
        return self.stream.url

    # ----------------------------------------------------------------- hooks and switches
    def price(self, prices: dict[str, float]) -> int:
        """Tell the market a new price per symbol (a bar's open); returns the executions it made."""
        return sum(self.book.on_price(s, p) for s, p in prices.items())

    def accept_then_504(self, count: int = 1) -> None:
        """The next ``count`` order POSTs are placed, then answered 504 with a gateway's HTML page."""
        self._push("accept_504", 504, 0.0, count)

    def fail_next(self, status: int, count: int = 1) -> None:
        """The next ``count`` REST requests (any path) are answered ``status`` without effect."""
        self._push("fail", status, 0.0, count)

    def hang_next(self, seconds: float, count: int = 1, *, orders_only: bool = False) -> None:
        """The next ``count`` REST requests (or order POSTs) wait ``seconds`` before being served (a stall)."""
        self._push("hang_post" if orders_only else "hang", 0, seconds, count)

    def slow_answer_next(self, seconds: float, count: int = 1) -> None:
        """The next ``count`` order POSTs are placed at once but answered ``seconds`` later (a kill between
        the broker's acceptance and the caller's acknowledgement)."""
        self._push("slow_answer", 0, seconds, count)

    def _push(self, kind: str, status: int, seconds: float, count: int) -> None:
        with self._fault_lock:
            self._faults.extend([(kind, status, seconds)] * count)

    def _take(self, post_order: bool) -> tuple[str, int, float] | None:
        with self._fault_lock:
            if not self._faults:
                return None
            kind = self._faults[0][0]
            if kind in ("accept_504", "slow_answer", "hang_post") and not post_order:
                return None
            return self._faults.popleft()

    def order_count(self, client_order_id: str | None = None) -> int:
        """How many orders the broker holds (with this client id): the "placed once" check."""
        with self.book.lock:
            return sum(
                1
                for o in self.book.orders.values()
                if o.parent is None and (client_order_id is None or o.cid == client_order_id)
            )

    def positions(self) -> dict[str, float]:
        with self.book.lock:
            return {s: q for s, (q, _) in self.book.positions.items()}

    # ----------------------------------------------------------------- routing
    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        b = self.book
        if method == "POST" and path == "/_fake/prices":
            return 200, {"executions": self.price({k: float(v) for k, v in body.items()})}
        if method == "POST" and path == "/_fake/close":
            b.close_market()
            return 200, {}
        if path == "/v2/account":
            return 200, b.account()
        if path == "/v2/clock":
            return 200, b.clock()
        if path.startswith("/v2/assets/"):
            return 200, b.asset(path.rsplit("/", 1)[1])
        with b.lock:
            if path == "/v2/orders" and method == "POST":
                return 200, b.submit(body)
            if path == "/v2/orders" and method == "GET":
                return 200, self._list_orders(query)
            if path == "/v2/orders:by_client_order_id":
                return 200, b.render(b.by_client_id(query.get("client_order_id", "")), nested=True)
            m = _ORDER.match(path)
            if m and method == "GET":
                return 200, b.render(b.get(m.group(1)), nested=True)
            if m and method == "DELETE":
                b.cancel(m.group(1))
                return 204, None
            if path == "/v2/positions":
                return 200, [b.position(s) for s in sorted(b.positions)]
            if path.startswith("/v2/positions/"):
                return 200, b.position(path.rsplit("/", 1)[1])
            if path == "/v2/account/activities/FILL":
                return 200, self._activities(query)
        return 404, {"code": 40410000, "message": "endpoint not found"}

    def _list_orders(self, q: dict[str, str]) -> list[dict[str, Any]]:
        status = q.get("status", "open")
        nested = q.get("nested", "").lower() == "true"
        symbols = {s for s in q.get("symbols", "").split(",") if s}
        rows = sorted(self.book.orders.values(), key=lambda o: o.seq, reverse=q.get("direction", "desc") == "desc")
        out = []
        for o in rows:
            is_open = o.status in OPEN_STATUSES
            if (status == "open" and not is_open) or (status == "closed" and is_open):
                continue
            if (nested and o.parent) or (symbols and o.symbol not in symbols):
                continue
            if q.get("after") and o.created_at <= _wire(q["after"]):
                continue
            out.append(self.book.render(o, nested=nested))
        return out[: min(int(q.get("limit", 50)), 500)]

    def _activities(self, q: dict[str, str]) -> list[dict[str, Any]]:
        rows = list(self.book.activities)
        if q.get("after"):
            rows = [r for r in rows if r["transaction_time"] > _wire(q["after"])]
        if q.get("direction", "desc") == "desc":
            rows.reverse()
        if q.get("page_token"):
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(q["page_token"]) + 1 :] if q["page_token"] in ids else []
        return rows[: min(int(q.get("page_size", 100)), 100)]


def _wire(t: str) -> str:
    """An ISO bound from a query (``+00:00`` or ``Z``) in the fake's sortable ``...Z`` form."""
    return wire_time(datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAlpaca
    protocol_version = "HTTP/1.1"  # keep-alive, as requests reuses its connection
    wbufsize = 1 << 16  # status, headers and body leave in one segment (no Nagle/delayed-ACK stall)
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if raw is not None else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the caller gave up (a timeout)
            self.wfile.write(data)

    def _serve(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        f = self.fake
        status, payload = self._answer(method, url.path, query, raw)
        f.requests.append((method, self.path, status))
        f.responses.append((method, url.path, status, payload if isinstance(payload, dict | list) else None))
        if status == 504 and payload is None:
            self._send(504, raw=GATEWAY_504)
        else:
            self._send(status, payload)

    def _answer(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        f = self.fake
        if not path.startswith("/_fake/"):
            key, secret = self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY")
            if key is None or secret is None:
                return 403, {"message": "forbidden."}
            if (key, secret) != (f.key_id, f.secret_key):
                return 401, {"code": 40110000, "message": "request is not authorized"}
        fault = None if path.startswith("/_fake/") else f._take(method == "POST" and path == "/v2/orders")
        if fault and fault[0] in ("hang", "hang_post"):
            time.sleep(fault[2])
        if fault and fault[0] == "fail":
            return fault[1], {"code": 42910000, "message": "rate limit exceeded"} if fault[1] == 429 else None
        try:
            body = json.loads(raw) if raw else {}
            status, payload = f.route(method, path, query, body)
        except BrokerError as e:
            return e.status, e.body
        except (ValueError, KeyError, TypeError) as e:
            return 422, {"code": 40010001, "message": f"invalid request: {e}"}
        if fault and fault[0] == "accept_504":
            return 504, None
        if fault and fault[0] == "slow_answer":
            time.sleep(fault[2])
        return status, payload

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")
