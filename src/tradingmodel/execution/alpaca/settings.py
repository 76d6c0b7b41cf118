"""Settings of the Alpaca executor: keys, endpoints (paper by default), deadlines, and the live-money guard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradingmodel.execution.base import ExecutorError

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"


def stream_url_for(base_url: str) -> str:
    """The trade_updates WebSocket URL of a REST base (``https://h`` → ``wss://h/stream``)."""
    base = base_url.rstrip("/")
    return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base.removeprefix("http://")) + "/stream"


def is_paper(base_url: str) -> bool:
    """A paper endpoint, or a loopback fake (never real money)."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host in ("paper-api.alpaca.markets", "127.0.0.1", "localhost")


@dataclass(frozen=True)
class AlpacaConfig:
    """Keys, endpoints and deadlines. ``since``: the start of the session (reconciliation's window)."""

    key_id: str
    secret_key: str
    base_url: str = PAPER_URL
    stream_url: str = ""
    call_timeout_s: float = 10.0
    stream_wait_s: float = 30.0
    heartbeat_s: float = 15.0
    submit_attempts: int = 3
    wait_429_s: float = 1.0  # first back-off after a REST 429 (then 2x, 3x)
    allow_fractional: bool = False
    require_open: bool = True
    backoff: tuple[float, float] | None = None  # stream reconnect back-off (min, max); alpaca-py's by default
    since: datetime | None = None
    live: bool = False
    slice_wait_s: float = 10.0  # on_bars waits this long for the previous slice's orders to settle
    price_hook: str | None = None  # replay against the fake only: its /_fake/prices URL (bars become prices)


def config_from_settings(settings: Any, *, live: bool = False, confirm_live: bool = False, **kw: Any) -> AlpacaConfig:
    """An :class:`AlpacaConfig` from :class:`tradingmodel.config.Settings`; refuses real money unless
    ``live`` and ``confirm_live`` (``tradingmodel live --broker alpaca --confirm-live``)."""
    if not settings.apca_api_key_id or not settings.apca_api_secret_key:
        raise ExecutorError(
            "APCA_API_KEY_ID and APCA_API_SECRET_KEY must be set (environment or .env) for --broker alpaca"
        )
    base = settings.apca_api_base_url.rstrip("/")
    if live:
        if not confirm_live:
            raise ExecutorError("refusing to trade a live-money Alpaca account without --confirm-live")
        base = LIVE_URL if base == PAPER_URL else base
    elif not is_paper(base):
        raise ExecutorError(
            f"APCA_API_BASE_URL={base} is a live-money endpoint; paper trading needs the paper "
            f"endpoint ({PAPER_URL}); real money needs "
            "`tradingmodel live --broker alpaca --confirm-live`"
        )
    return AlpacaConfig(
        settings.apca_api_key_id,
        settings.apca_api_secret_key,
        base,
        settings.apca_api_stream_url or stream_url_for(base),
        live=live,
        **kw,
    )
