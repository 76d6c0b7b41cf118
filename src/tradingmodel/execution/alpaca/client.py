"""The official ``alpaca-py`` clients, with the guards they lack (``alpaca-wire.md`` sections 2 and 9).

* :class:`Rest` wraps ``TradingClient``: a socket timeout on every request and an asyncio deadline
  around every call (the client has neither), the client's own blind re-POST on 429/504 switched off
  (``_retry = 0``: our code owns that decision, see :meth:`AlpacaExecutor.submit`), our own 429 back-off,
  and errors sorted into a :class:`Refused` (the broker said no: 4xx with its message) or an
  :class:`Unavailable` (timeout, connection, 5xx: the outcome is unknown, look the order up).
* :class:`ObservedStream` is ``TradingStream`` that also says when it is listening and when its socket
  closed (alpaca-py reconnects silently and tells nobody, section 7.4).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream

log = logging.getLogger(__name__)
T = TypeVar("T")


class Refused(Exception):
    """The broker answered 4xx: ``status``, Alpaca's ``code`` (or None) and its message."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def duplicate(self) -> bool:
        return self.status == 422 and "client_order_id must be unique" in self.message

    @property
    def not_found(self) -> bool:
        return self.status == 404


class Unavailable(Exception):
    """No usable answer (timeout, connection error, 5xx, 429 after our retries): the outcome is unknown."""


def _refusal(e: APIError) -> Refused | Unavailable:
    status = e.status_code or 0
    body = str(e)
    try:  # e.code / e.message parse the body on each access and raise on HTML or code-less bodies
        parsed = json.loads(body)
        code, message = parsed.get("code"), str(parsed.get("message", body))
    except (ValueError, AttributeError):
        code, message = None, body[:200]
    if 400 <= status < 500 and status != 429:
        return Refused(status, code, message)
    return Unavailable(f"HTTP {status}: {message}")


class Rest:
    """``TradingClient`` (``raw_data=True``: plain dicts, no enum surprises) behind deadlines."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        base_url: str,
        *,
        paper: bool,
        timeout: float = 10.0,
        retries_429: int = 3,
        wait_429: float = 1.0,
    ) -> None:
        self.client = TradingClient(key_id, secret_key, paper=paper, raw_data=True, url_override=base_url)
        self.client._retry = 0  # never re-POST blindly on 504 (alpaca-wire.md 9.1); 429 is ours below
        session = self.client._session
        session.request = functools.partial(session.request, timeout=(timeout, timeout))  # type: ignore[method-assign]
        self.timeout, self.retries_429, self.wait_429 = timeout, retries_429, wait_429

    async def call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True) -> T:
        """Run a blocking client call in a thread with a deadline; 429 is waited out; a read that got no
        answer is asked again (twice), an order POST never is (the caller looks the order up instead)."""
        unanswered = 0
        for attempt in range(self.retries_429 + 3):
            try:
                return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout + 1.0)
            except APIError as e:
                err = _refusal(e)
                if e.status_code == 429 and attempt < self.retries_429:  # refused unprocessed: safe to resend
                    await asyncio.sleep(self.wait_429 * (attempt + 1))
                    continue
                raise err from None
            except (requests.exceptions.RequestException, TimeoutError) as e:
                unanswered += 1
                if not idempotent or unanswered > 2:
                    raise Unavailable(f"{type(e).__name__}: {e}") from None
                await asyncio.sleep(0.1 * unanswered)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """A path the TradingClient has no method for (account activities), same guards."""
        return await self.call(self.client.get, path, params or {})


class ObservedStream(TradingStream):
    """``TradingStream`` that reports ``on_state(True)`` once the server says it is listening and
    ``on_state(False)`` when the socket closes; ``on_message()`` on every message (the heartbeat)."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        url: str,
        *,
        paper: bool,
        on_state: Callable[[bool], None],
        on_message: Callable[[], None],
        ping_interval: float,
        ping_timeout: float,
        backoff: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(
            key_id,
            secret_key,
            paper=paper,
            raw_data=True,
            url_override=url,
            websocket_params={"ping_interval": ping_interval, "ping_timeout": ping_timeout, "max_queue": 1024},
        )
        if backoff is not None:
            self._reconnect_min_backoff, self._reconnect_max_backoff = backoff
        self._on_state, self._on_message = on_state, on_message

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        self._on_message()
        if msg.get("stream") == "listening":
            self._on_state("trade_updates" in (msg.get("data") or {}).get("streams", []))
        await super()._dispatch(msg)

    async def close(self) -> None:
        if self._ws is not None:
            self._on_state(False)
        await super().close()

    async def _shutdown_now(self) -> None:
        await self.stop_ws()
        if self._ws is not None:
            await self.close()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop from another thread and close the socket at once (``stop()`` alone takes up to 5 s)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown_now(), loop).result(timeout)
            except Exception as e:  # noqa: BLE001 - best effort; the thread is joined by the caller
                log.warning("trade stream did not stop cleanly: %s", e)
