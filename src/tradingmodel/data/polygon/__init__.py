"""Polygon (Massive) market data: REST history into the store, real-time aggregates, a fake server.

* :func:`fetch_history` — resumable, rate-limited, retrying download through the official ``massive``
  client (``tradingmodel fetch``).
* :class:`BarStream` — async iterator of :class:`StreamBar` (``AM``/``A`` aggregates) with reconnect and
  REST back-fill, each bar exactly once and in order; :class:`ThreadedBarStream` for non-async code
  (``tradingmodel stream``).
* :class:`~tradingmodel.data.polygon.fake.FakePolygon` — a local REST + WebSocket fake for tests and demos
  (import it from ``tradingmodel.data.polygon.fake``).

See ``docs/polygon.md``.
"""

from tradingmodel.data.polygon.client import (
    FREE_PLAN_REQUESTS_PER_MINUTE,
    FetchPolicy,
    PolygonAuthError,
    PolygonError,
    PolygonNotFoundError,
    PolygonPlanError,
    PolygonREST,
    PolygonUnavailableError,
    RateLimiter,
    free_plan,
)
from tradingmodel.data.polygon.history import SymbolFetch, fetch_history
from tradingmodel.data.polygon.stream import (
    Backoff,
    BarStream,
    StreamAuthError,
    StreamBar,
    StreamError,
    StreamEvictedError,
)
from tradingmodel.data.polygon.threaded import ThreadedBarStream

__all__ = [
    "FREE_PLAN_REQUESTS_PER_MINUTE",
    "Backoff",
    "BarStream",
    "FetchPolicy",
    "PolygonAuthError",
    "PolygonError",
    "PolygonNotFoundError",
    "PolygonPlanError",
    "PolygonREST",
    "PolygonUnavailableError",
    "RateLimiter",
    "StreamAuthError",
    "StreamBar",
    "StreamError",
    "StreamEvictedError",
    "SymbolFetch",
    "ThreadedBarStream",
    "fetch_history",
    "free_plan",
]
