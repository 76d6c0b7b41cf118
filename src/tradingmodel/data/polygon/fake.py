"""A faithful fake Polygon (Massive) server for tests, demos and benchmarks: REST + WebSocket.

It binds **127.0.0.1 only**, on free ports (port 0), and runs in daemon threads of the calling
process. It serves a bars DataFrame (e.g. from the market simulator) in Polygon's exact shapes (see
``/work/shared/docs/polygon-wire.md``), so the official ``massive`` client works against it unchanged::

    with FakePolygon(bars, api_key="k") as fake:
        RESTClient(api_key="k", base=fake.base_url).list_aggs("ACME", 1, "minute", "2024-01-02", "2024-01-02")

Switches (thread-safe to flip while serving): ``page_size`` (cap results per page), ``fail_next(status,
count, retry_after=None, body=None)`` (429 bursts with or without ``Retry-After``, 5xx, or a raw non-JSON
``body`` such as a proxy's HTML page, even with status 200), ``plan_start_ms`` (403 for
earlier data), unknown tickers (404), wrong or missing key (401), ``repeat_next_url`` (a looping
``next_url``), ``stuck_cursor`` (a new cursor that never advances), and on the WebSocket side: auth
failure, eviction by a second connection, abrupt disconnects
(``drop_connections``/``drop_after``), outages, and slow-consumer drops. See :mod:`.fake_ws`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from tradingmodel.data.polygon.fake_ws import FakeFeed
from tradingmodel.data.polygon.wire import (
    NEW_YORK,
    TIMESPAN_MS,
    parse_range_bound,
    parse_timeframe,
    to_ms,
)
from tradingmodel.loopback import LoopbackService

_AGGS = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/(\d+)/([a-z]+)/([^/]+)/([^/]+)$")
MSG_429 = ("You've exceeded the maximum requests per minute, please wait or upgrade your subscription "
           "to continue. https://polygon.io/pricing")
MSG_403 = ("Your plan doesn't include this data timeframe. Please upgrade your plan at "
           "https://polygon.io/pricing")


class FakePolygon(LoopbackService):
    """REST (``base_url``) and WebSocket (``ws_url``) fake of Polygon over one bars DataFrame.

    ``timeframe`` is the resolution of ``bars`` (``"1m"`` or ``"1s"``); REST requests for that or any
    coarser timespan are served (aggregated like Polygon, days on New York midnight). With ``live=True``
    nothing is published at start: the WebSocket feed publishes one timestamp at a time (``play``/
    ``publish``) and REST only serves what has been published, as with a real market.
    """

    def __init__(self, bars: pd.DataFrame, *, api_key: str = "test-key", timeframe: str = "1m",
                 live: bool = False, max_connections: int = 1) -> None:
        mult, unit = parse_timeframe(timeframe)
        if unit not in ("second", "minute"):
            raise ValueError("the fake serves 1s or 1m base bars")
        self.interval_ms = mult * TIMESPAN_MS[unit]
        self.base_unit, self.base_mult = unit, mult
        self.api_key = api_key
        df = bars.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
        self._df = df.assign(t=[to_ms(x) for x in df["timestamp"]] if len(df) else [])
        self._by_symbol = {s: g.reset_index(drop=True) for s, g in self._df.groupby("symbol", sort=False)}
        self.times = np.unique(self._df["t"].to_numpy(dtype=np.int64))
        self._published = 0 if live else len(self.times)
        self.lock = threading.RLock()
        # switches
        self.page_size: int | None = None
        self.plan_start_ms: int | None = None
        self.repeat_next_url = False
        self.stuck_cursor = False  # next_url changes (a new cursor) but serves the same page again
        self.rest_lag = 0  # REST serves all but the newest ``rest_lag`` published timestamps
        self._failures: deque[tuple[int, str | None, str | None]] = deque()
        self.requests: list[tuple[str, int]] = []  # (path?query, status) of every REST request
        self.feed = FakeFeed(self, max_connections=max_connections)

    # ---- lifecycle (start, stop, base_url: LoopbackService) ----------------------------------
    _thread_name = "fake-polygon-http"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def _socket_side(self) -> FakeFeed:
        return self.feed

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.feed.port}/stocks"

    # ---- switches --------------------------------------------------------------------------
    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None,
                  body: str | None = None) -> None:
        """Answer the next ``count`` REST requests with ``status`` (e.g. a 429 burst, a 503); with
        ``body``, send that text (``text/html``) instead of Polygon's JSON error."""
        with self.lock:
            self._failures.extend([(status, retry_after, body)] * count)

    @property
    def published(self) -> int:
        """How many distinct bar timestamps have been published (REST serves only these)."""
        return self._published

    def publish_all(self) -> None:
        """Make every bar available on REST (without streaming)."""
        with self.lock:
            self._published = len(self.times)

    def cutoff_ms(self) -> int:
        """Bars starting at or after this are not yet available."""
        with self.lock:
            p = max(0, self._published - self.rest_lag)
        return int(self.times[p]) if p < len(self.times) else 2**62

    def rest_request_count(self) -> int:
        with self.lock:
            return len(self.requests)

    # ---- REST ------------------------------------------------------------------------------
    def handle_get(self, raw_path: str, headers: Any) -> tuple[int, dict[str, str], dict[str, Any] | str]:
        """Answer one REST GET: ``(status, extra headers, JSON body or raw text)``."""
        url = urlparse(raw_path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        rid = uuid.uuid4().hex
        auth = headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else q.get("apiKey")
        if not key:
            return 401, {}, {"status": "ERROR", "request_id": rid, "error": "API Key was not provided"}
        if key != self.api_key:
            return 401, {}, {"status": "ERROR", "request_id": rid, "error": "Unknown API Key"}
        with self.lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            status, retry_after, text = failure
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            if text is not None:
                return status, extra, text
            if status == 429:
                return 429, extra, {"status": "ERROR", "request_id": rid, "error": MSG_429}
            return status, extra, {"status": "ERROR", "request_id": rid, "error": "Internal server error"}
        m = _AGGS.match(url.path)
        if not m:
            return 404, {}, {"status": "NOT_FOUND", "request_id": rid, "message": "Not found."}
        return self._aggs(rid, url.path, q, *m.groups())

    def _aggs(self, rid: str, path: str, q: dict[str, str], ticker: str, mult_s: str, timespan: str,
              from_s: str, to_s: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        cursor = _decode_cursor(q.pop("cursor", None))
        q = {**cursor, **q}
        try:
            mult = int(mult_s)
            lo, hi = parse_range_bound(from_s, end=False), parse_range_bound(to_s, end=True)
            unit_ms = TIMESPAN_MS[timespan]
            limit = min(int(q.get("limit", 5000)), 50_000)
            if mult < 1 or limit < 1 or unit_ms * mult < self.interval_ms:
                raise ValueError("bad multiplier, limit or timespan finer than the data")
        except (ValueError, KeyError) as e:
            return 400, {}, {"status": "ERROR", "request_id": rid,
                             "error": f"Failed to parse query parameters from URL: {e}"}
        if ticker not in self._by_symbol:
            return 404, {}, {"status": "NOT_FOUND", "request_id": rid, "message": "Ticker not found."}
        if self.plan_start_ms is not None and lo < self.plan_start_ms:
            return 403, {}, {"status": "NOT_AUTHORIZED", "request_id": rid, "message": MSG_403}
        sort = q.get("sort", "asc")
        adjusted = q.get("adjusted", "true")
        g = self._by_symbol[ticker]
        g = g[(g["t"] < self.cutoff_ms())]
        bars = _aggregate(g, timespan, mult, self.interval_ms)
        bars = bars[(bars["t"] >= lo) & (bars["t"] <= hi)]
        if sort == "desc":
            bars = bars.iloc[::-1]
        page_len = min(limit, self.page_size or limit)
        page, rest = bars.iloc[:page_len], bars.iloc[page_len:]
        results = [_agg_json(r) for r in page.itertuples(index=False)]
        body: dict[str, Any] = {"ticker": ticker, "queryCount": len(results), "resultsCount": len(results),
                                "adjusted": adjusted == "true", "status": "OK", "request_id": rid,
                                "count": len(results)}
        if results:
            body["results"] = results
        if len(rest) or self.repeat_next_url or self.stuck_cursor:
            nxt = int(rest["t"].iloc[0]) if len(rest) else int(page["t"].iloc[0]) if len(page) else lo
            cur = base64.urlsafe_b64encode(f"limit={limit}&sort={sort}&adjusted={adjusted}".encode())
            a, b = (nxt, to_s) if sort == "asc" else (from_s, nxt)
            if self.repeat_next_url or self.stuck_cursor:
                a, b = from_s, to_s
            if self.stuck_cursor:
                cur = base64.urlsafe_b64encode(f"limit={limit}&sort={sort}&adjusted={adjusted}&n={rid}".encode())
            body["next_url"] = (f"https://api.polygon.io/v2/aggs/ticker/{ticker}/range/{mult}/{timespan}/"
                                f"{a}/{b}?cursor={cur.decode().rstrip('=')}")
        return 200, {}, body


def _decode_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return {k: v[-1] for k, v in parse_qs(text).items()}


def _aggregate(g: pd.DataFrame, timespan: str, mult: int, base_ms: int) -> pd.DataFrame:
    """Polygon-style aggregation of base bars into ``mult`` x ``timespan`` windows (days: ET midnight)."""
    width = TIMESPAN_MS[timespan] * mult
    if width == base_ms or g.empty:
        return g
    if timespan == "day":
        local = pd.to_datetime(g["t"], unit="ms", utc=True).dt.tz_convert(NEW_YORK).dt.normalize()
        key = (local.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")
    else:
        key = (g["t"] // width) * width
    pv = g["close"] * g["volume"] if "vwap" not in g else g["vwap"].fillna(g["close"]) * g["volume"]
    x = g.assign(key=key.to_numpy(), pv=pv)
    agg = x.groupby("key", sort=True).agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                                          close=("close", "last"), volume=("volume", "sum"), pv=("pv", "sum"))
    if "transactions" in x:
        agg["transactions"] = x.groupby("key", sort=True)["transactions"].sum()
    agg["vwap"] = agg["pv"] / agg["volume"].where(agg["volume"] > 0)
    return agg.drop(columns="pv").rename_axis("t").reset_index()


def _agg_json(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"v": float(r.volume), "o": float(r.open), "c": float(r.close),
                           "h": float(r.high), "l": float(r.low), "t": int(r.t)}
    vw = getattr(r, "vwap", None)
    out["vw"] = round(float(vw), 4) if vw is not None and vw == vw else round(float(r.close), 4)
    n = getattr(r, "transactions", None)
    out["n"] = int(n) if n is not None and n == n else max(1, int(r.volume) // 100)
    return out


def _handler_for(fake: FakePolygon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            status, extra, body = fake.handle_get(self.path, self.headers)
            with fake.lock:
                fake.requests.append((self.path, status))
            raw = isinstance(body, str)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if raw else "application/json")
            self.send_header("Content-Length", str(len(data)))
            if isinstance(body, dict):
                self.send_header("X-Request-Id", body.get("request_id", ""))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


def main(argv: list[str] | None = None) -> None:
    """``python -m tradingmodel.data.polygon.fake``: serve simulated bars locally, to try ``fetch``/``stream``."""
    import argparse
    import contextlib
    import time

    from tradingmodel.data import simulate

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--symbols", default="AAPL,MSFT")
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--start", default="2024-01-02")
    ap.add_argument("--key", default="demo-key")
    ap.add_argument("--tick", type=float, default=1.0, help="seconds between published bars (live feed)")
    args = ap.parse_args(argv)
    bars = simulate([s.strip().upper() for s in args.symbols.split(",")], args.days, start=args.start)
    with FakePolygon(bars, api_key=args.key, live=True) as fake:
        fake.feed.publish(len(fake.times) // 2)  # first half is history, the rest streams live
        print(f"export POLYGON_API_KEY={args.key} POLYGON_BASE_URL={fake.base_url} POLYGON_WS_URL={fake.ws_url}",
              flush=True)
        fake.feed.play(args.tick)
        with contextlib.suppress(KeyboardInterrupt):  # serve until Ctrl-C
            while True:
                time.sleep(0.5)


if __name__ == "__main__":
    main()
