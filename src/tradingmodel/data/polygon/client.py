"""The official ``massive`` REST client, hardened: request-rate limit, bounded retries, clear errors.

``massive.RESTClient`` already paginates (``list_aggs`` follows ``next_url``) and retries through urllib3.
What it lacks, and what this module adds without forking it:

* a **request-rate limit** (Polygon's free plan allows 5 requests per minute), applied to every HTTP
  request including retries and later pages;
* **bounded retries**: 429 and 5xx are retried with exponential backoff; a ``Retry-After`` header is
  honoured but capped, and the total wait per request is bounded (urllib3 alone honours any
  ``Retry-After`` without limit);
* a guard against a ``next_url`` that repeats (the client would loop forever);
* a guard against a 200 answer whose body is not a JSON object (a proxy's HTML page, a cut-off body):
  the client would log it and end the listing quietly, so a fetch would mark the rest of its range
  fetched without its bars; it raises :class:`PolygonUnavailableError` instead;
* the HTTP status of a failure, which ``massive.exceptions.BadResponse`` drops, so 401/403/404 become
  :class:`PolygonAuthError` / :class:`PolygonPlanError` / :class:`PolygonNotFoundError` with advice.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from massive import RESTClient
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

#: Polygon's free (Basic) plan: 5 REST requests per minute.
FREE_PLAN_REQUESTS_PER_MINUTE = 5.0
RETRY_STATUSES = (413, 429, 499, 500, 502, 503, 504)


class PolygonError(Exception):
    """A Polygon request failed; the message says what to do."""


class PolygonAuthError(PolygonError):
    """401: the API key is missing or unknown."""


class PolygonPlanError(PolygonError):
    """403: the plan does not cover the requested data (range, timespan or feed)."""


class PolygonNotFoundError(PolygonError):
    """404: unknown ticker."""


class PolygonUnavailableError(PolygonError):
    """429/5xx or network failures persisted through every allowed retry."""


class MalformedResponseError(PolygonUnavailableError):
    """HTTP 200 with a body that is not a JSON object; the listing cannot be trusted to be complete."""


class RepeatedNextUrlError(PolygonError):
    """The server sent a ``next_url`` that was already requested (a pagination loop)."""


@dataclass
class FetchPolicy:
    """How hard to push and how long to wait. Defaults suit a paid plan; see :func:`free_plan`.

    ``sleep`` and ``clock`` are injectable so tests run instantly.
    """

    requests_per_minute: float | None = None  # None = no client-side limit
    max_retries: int = 5  # per HTTP request, for 429 / 5xx / connection errors
    backoff_base: float = 1.0  # seconds before the 2nd retry; doubles after each (1st retry: base / 2)
    backoff_max: float = 60.0  # cap on one wait, Retry-After included
    max_total_wait: float = 300.0  # give up a request when its retry waits would exceed this
    page_limit: int = 50_000  # Polygon's maximum ``limit``
    commit_every: int = 10_000  # bars per stored (and resumable) checkpoint
    settle_seconds: float = 900.0  # bars newer than this (and the window holding that instant) may still
    # change (delayed plans lag 15 min), so they are stored but their range is not marked as fetched
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    now: Callable[[], float] = field(default=time.time, repr=False)  # wall clock, Unix seconds


def free_plan(**overrides: Any) -> FetchPolicy:
    """The free plan preset: 5 requests per minute."""
    return FetchPolicy(requests_per_minute=FREE_PLAN_REQUESTS_PER_MINUTE, **overrides)


class RateLimiter:
    """At most ``per_minute`` acquisitions in any 60-second window (sliding window, thread-safe)."""

    def __init__(self, per_minute: float | None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute is not None and per_minute <= 0:
            raise ValueError(f"requests per minute must be positive, not {per_minute}")
        self.per_minute = per_minute
        self._sleep, self._clock = sleep, clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until one more request fits in the window, then record it."""
        if self.per_minute is None:
            return
        window = 60.0
        cap = max(1, int(self.per_minute))
        spacing = window / self.per_minute if self.per_minute < 1 else 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= window:
                    self._times.popleft()
                wait = 0.0
                if len(self._times) >= cap:
                    wait = window - (now - self._times[0])
                if spacing and self._times:
                    wait = max(wait, spacing - (now - self._times[-1]))
                if wait <= 0:
                    self._times.append(now)
                    return
                self.waited += wait
                self._sleep(wait)


class _PolicyRetry(Retry):
    """urllib3 Retry whose waits follow a :class:`FetchPolicy` (capped, bounded in total, rate limited)."""

    policy: FetchPolicy
    limiter: RateLimiter
    waited: float = 0.0

    def new(self, **kw: Any) -> _PolicyRetry:
        r = super().new(**kw)
        r.waited = self.waited
        return r

    def sleep(self, response: Any = None) -> None:
        p = self.policy
        wait = None
        if response is not None and self.respect_retry_after_header:
            with contextlib.suppress(InvalidHeader):  # a malformed Retry-After falls back to backoff
                wait = self.get_retry_after(response)
        if wait is None:
            wait = p.backoff_base * 2 ** (len(self.history) - 2) if self.history else 0.0
        wait = min(max(0.0, wait), p.backoff_max)
        if self.waited + wait > p.max_total_wait:
            status = self.history[-1].status if self.history else None
            raise PolygonUnavailableError(
                f"Polygon still failing (last HTTP status {status}) and waiting {wait:.0f} s more would exceed "
                f"the {p.max_total_wait:.0f} s retry budget; try again later")
        self.waited += wait
        if wait > 0:
            p.sleep(wait)
        self.limiter.acquire()


class _GuardedPool:
    """Wraps the client's urllib3 pool: rate limit, repeated-URL guard, last status for error mapping."""

    def __init__(self, pool: Any, limiter: RateLimiter) -> None:
        self._pool = pool
        self.limiter = limiter
        self.seen: set[str] | None = None  # URLs of the current listing (None = not tracking)
        self.requests = 0
        self.last_status: int | None = None

    def request(self, method: str, url: str, fields: Any = None, headers: Any = None, **kw: Any) -> Any:
        if self.seen is not None:
            key = url + "|" + json.dumps(fields or {}, sort_keys=True, default=str)
            if key in self.seen:
                raise RepeatedNextUrlError(f"next_url repeats: {url}")
            self.seen.add(key)
        self.limiter.acquire()
        self.requests += 1
        resp = self._pool.request(method, url, fields=fields, headers=headers, **kw)
        self.last_status = resp.status
        if resp.status == 200:
            try:
                ok = isinstance(json.loads(resp.data), dict)
            except ValueError:
                ok = False
            if not ok:
                raise MalformedResponseError(
                    f"Polygon answered HTTP 200 with a body that is not JSON ({resp.data[:80]!r}); "
                    "a proxy or an outage? Run the same command again later (it resumes)")
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class PolygonREST:
    """An official ``massive.RESTClient`` configured by a :class:`FetchPolicy`."""

    def __init__(self, api_key: str, base_url: str, policy: FetchPolicy | None = None) -> None:
        if not api_key:
            raise PolygonAuthError(
                "no Polygon API key: set POLYGON_API_KEY in the environment or in .env "
                "(your key is on https://polygon.io/dashboard/keys)")
        self.policy = policy or FetchPolicy()
        self.limiter = RateLimiter(self.policy.requests_per_minute, sleep=self.policy.sleep,
                                   clock=self.policy.clock)
        retry_cls = type("PolicyRetry", (_PolicyRetry,), {"policy": self.policy, "limiter": self.limiter})
        retry = retry_cls(total=self.policy.max_retries, status_forcelist=RETRY_STATUSES,
                          backoff_factor=0, raise_on_status=True, respect_retry_after_header=True)
        self.client = RESTClient(api_key=api_key, base=base_url.rstrip("/"),
                                 connect_timeout=self.policy.connect_timeout,
                                 read_timeout=self.policy.read_timeout, retries=self.policy.max_retries,
                                 connection_pool_kw={"retries": retry})
        self.pool = _GuardedPool(self.client.client, self.limiter)
        self.client.client = self.pool  # type: ignore[assignment]
        self.base_url = base_url

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries excluded)."""
        return self.pool.requests
