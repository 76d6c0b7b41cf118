"""Resumable download of Polygon aggregates into the store.

For each symbol, the requested ``[from, to]`` trading dates become a half-open UTC range on New York
midnights. Ranges already recorded in the store's ``fetch_progress`` table are skipped; the rest is
paged through the official client (:class:`~.client.PolygonREST`) in ascending time. Every
``commit_every`` bars the bars are stored (idempotently) and the range up to the last bar received is
marked fetched, so a crash or Ctrl-C loses at most one checkpoint and a rerun resumes exactly there:
no duplicates (ingestion is an upsert), no gaps (a range is marked only after its bars are stored).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from massive.exceptions import BadResponse
from urllib3.exceptions import MaxRetryError

from tradingmodel.data.polygon.client import (
    FetchPolicy,
    PolygonAuthError,
    PolygonError,
    PolygonNotFoundError,
    PolygonPlanError,
    PolygonREST,
    PolygonUnavailableError,
    RepeatedNextUrlError,
)
from tradingmodel.data.polygon.wire import (
    TIMESPAN_MS,
    agg_record,
    date_range_ms,
    ms_to_timestamp,
    records_to_frame,
    timeframe_name,
    to_ms,
    window_start,
)

#: ``progress(symbol, done_ms, total_ms, bars_stored)``, called after each checkpoint.
ProgressFn = Callable[[str, int, int, int], None]


@dataclass
class SymbolFetch:
    """What one symbol's fetch did."""

    symbol: str
    timeframe: str
    missing_ms: int = 0  # length of the ranges that had to be fetched
    skipped_ms: int = 0  # length already stored beforehand
    bars: int = 0  # bars received and stored
    requests: int = 0  # HTTP requests (pages), retries excluded
    warnings: list[str] = field(default_factory=list)


def missing_ranges(lo: int, hi: int, done: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of ``[lo, hi)`` not covered by the half-open ``done`` ranges (all in ms)."""
    out, cur = [], lo
    for a, b in sorted(done):
        if b <= cur or a >= hi:
            continue
        if a > cur:
            out.append((cur, min(a, hi)))
        cur = max(cur, b)
        if cur >= hi:
            break
    if cur < hi:
        out.append((cur, hi))
    return out


def explain(err: Exception, status: int | None, symbol: str, what: str) -> PolygonError:
    """Turn a client exception into a :class:`PolygonError` whose message says what to do."""
    if isinstance(err, PolygonError):
        return err
    if isinstance(err, MaxRetryError):
        return PolygonUnavailableError(
            f"{symbol}: Polygon did not answer successfully after every retry ({err.reason}); "
            "wait a minute and run the same command again (it resumes), or lower --rate")
    body: dict[str, Any] = {}
    text = str(err)
    with contextlib.suppress(ValueError):
        body = json.loads(text)
    detail = body.get("message") or body.get("error") or text[:200]
    st = body.get("status")
    if status == 401 or "API Key" in str(detail):
        return PolygonAuthError(
            f"Polygon rejected the API key (401: {detail}). Set POLYGON_API_KEY (environment or .env) to the "
            "key shown on https://polygon.io/dashboard/keys")
    if status == 403 or st == "NOT_AUTHORIZED":
        return PolygonPlanError(
            f"{symbol}: your Polygon plan does not cover {what} (403: {detail}). Use a later --from (the free "
            "plan keeps about 2 years of history), a coarser --timespan, or upgrade the plan")
    if status == 404 or st == "NOT_FOUND":
        return PolygonNotFoundError(
            f"{symbol}: unknown ticker (404: {detail}). Check the symbol (Polygon tickers are case-sensitive "
            "upper case, e.g. AAPL, BRK.B) on https://polygon.io/quote")
    return PolygonError(f"{symbol}: Polygon answered HTTP {status}: {detail}")


class _Checkpointer:
    """Buffers bars of one range; stores them and marks the covered range fetched."""

    def __init__(self, engine: Any, symbol: str, timeframe: str, start: int) -> None:
        self.engine, self.symbol, self.timeframe = engine, symbol, timeframe
        self.covered = start  # everything before this is stored and marked
        self.last_t: int | None = None
        self.buf: list[dict[str, Any]] = []
        self.stored = 0

    def add(self, agg: Any) -> bool:
        t = int(agg.timestamp)
        if self.last_t is not None and t <= self.last_t:
            return False  # overlapping page boundary: keep the first copy
        for name in ("open", "high", "low", "close", "volume"):
            v = getattr(agg, name)
            if v is None or not math.isfinite(float(v)):
                raise PolygonError(f"{self.symbol}: bar at {ms_to_timestamp(t)} has no valid {name} ({v!r})")
        self.buf.append(agg_record(self.symbol, t, agg.open, agg.high, agg.low, agg.close, agg.volume,
                                   agg.vwap, agg.transactions))
        self.last_t = t
        return True

    def flush(self, upto: int) -> None:
        """Store the buffer and mark ``[covered, upto)`` fetched, in one transaction."""
        from tradingmodel.store import ingest_bars, mark_fetched, write_transaction

        if upto <= self.covered and not self.buf:
            return
        with write_transaction(self.engine) as conn:  # SQLite: take the write lock at BEGIN
            if self.buf:
                ingest_bars(conn, records_to_frame(self.buf), timeframe=self.timeframe)
            if upto > self.covered:
                mark_fetched(conn, self.symbol, self.timeframe, ms_to_timestamp(self.covered),
                             ms_to_timestamp(upto))
        self.stored += len(self.buf)
        self.buf = []
        self.covered = max(self.covered, upto)


def fetch_symbol(engine: Any, rest: PolygonREST, symbol: str, start: date, end: date, *,
                 timespan: str = "minute", multiplier: int = 1, adjusted: bool = True,
                 progress: ProgressFn | None = None) -> SymbolFetch:
    """Fetch one symbol's missing bars of ``[start, end]`` (ET dates, inclusive) into the store."""
    from tradingmodel.store import fetched_ranges

    tf = timeframe_name(multiplier, timespan)
    lo, hi = date_range_ms(start, end)
    done = [(to_ms(a), to_ms(b)) for a, b in fetched_ranges(engine, symbol, tf)]
    todo = missing_ranges(lo, hi, done)
    rep = SymbolFetch(symbol, tf, missing_ms=sum(b - a for a, b in todo))
    rep.skipped_ms = (hi - lo) - rep.missing_ms
    policy = rest.policy
    done_ms = 0
    if progress:
        progress(symbol, 0, rep.missing_ms, 0)
    first_request = rest.requests
    # windows that may still change are stored but not marked fetched, so a later run refreshes them
    final = window_start(int((policy.now() - policy.settle_seconds) * 1000), multiplier, timespan)

    def settled(ms: int) -> int:
        return min(ms, final)

    for a, b in todo:
        cp = _Checkpointer(engine, symbol, tf, a)
        what = f"{tf} bars from {ms_to_timestamp(a):%Y-%m-%d %H:%M} to {ms_to_timestamp(b):%Y-%m-%d %H:%M} UTC"
        rest.pool.seen = set()
        try:
            it = rest.client.list_aggs(symbol, multiplier, timespan, a, b - 1, adjusted=adjusted, sort="asc",
                                       limit=policy.page_limit)
            fresh_at = rest.requests  # the request that last brought a new bar
            for agg in it:
                t = int(agg.timestamp)
                if cp.last_t is not None and t <= cp.last_t:
                    # one overlapping bar at a page boundary is normal; a whole page of old bars is a loop
                    if rest.requests - fresh_at >= 2:
                        raise RepeatedNextUrlError("pagination is not advancing (a new cursor, the same bars)")
                    continue
                fresh_at = rest.requests
                if a <= t < b and cp.add(agg) and len(cp.buf) >= policy.commit_every:
                    cp.flush(settled(t + 1))
                    if progress:
                        progress(symbol, done_ms + cp.covered - a, rep.missing_ms, rep.bars + cp.stored)
            cp.flush(settled(b))
        except RepeatedNextUrlError as e:
            rep.warnings.append(f"{symbol}: stopped paging, Polygon repeated a next_url ({e}); "
                                "the rest of the range is left for a later run")
            cp.flush(settled(cp.last_t + 1 if cp.last_t is not None else a))
        except KeyboardInterrupt:
            cp.flush(settled(cp.last_t + 1 if cp.last_t is not None else a))  # keep what arrived; rerun resumes
            raise
        except (BadResponse, MaxRetryError, PolygonError) as e:
            cp.flush(settled(cp.last_t + 1 if cp.last_t is not None else a))
            raise explain(e, rest.pool.last_status, symbol, what) from None
        finally:
            rest.pool.seen = None
            rep.bars += cp.stored
            rep.requests = rest.requests - first_request
        done_ms += b - a
        if progress:
            progress(symbol, done_ms, rep.missing_ms, rep.bars)
    return rep


def fetch_history(engine: Any, symbols: Sequence[str], start: date, end: date, *, api_key: str,
                  base_url: str, timespan: str = "minute", multiplier: int = 1, adjusted: bool = True,
                  policy: FetchPolicy | None = None, progress: ProgressFn | None = None) -> list[SymbolFetch]:
    """Fetch ``symbols``' bars for ``[start, end]`` (New York dates, inclusive) into the store.

    Resumable and idempotent: rerunning fetches only what is not yet recorded as fetched. Raises a
    :class:`PolygonError` subclass with advice on 401/403/404 or when retries are exhausted.
    """
    if timespan not in TIMESPAN_MS:
        raise ValueError(f"--timespan must be one of {', '.join(TIMESPAN_MS)}, not {timespan!r}")
    timeframe_name(multiplier, timespan)  # validates the multiplier
    date_range_ms(start, end)  # validates the order
    rest = PolygonREST(api_key, base_url, policy)
    return [fetch_symbol(engine, rest, s, start, end, timespan=timespan, multiplier=multiplier,
                         adjusted=adjusted, progress=progress) for s in symbols]

