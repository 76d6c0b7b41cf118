"""Settings of the Alpaca executor: keys, endpoints (paper by default), deadlines, and the live-money guard."""

from __future__ import annotations

from collections.abc import Mapping
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


#: optional environment overrides of :class:`AlpacaConfig`'s deadlines and switches (seconds unless noted)
ENV_KNOBS: dict[str, tuple[str, type]] = {
    "APCA_CALL_TIMEOUT_S": ("call_timeout_s", float),
    "APCA_STREAM_WAIT_S": ("stream_wait_s", float),
    "APCA_HEARTBEAT_S": ("heartbeat_s", float),
    "APCA_SLICE_WAIT_S": ("slice_wait_s", float),
    "APCA_WAIT_429_S": ("wait_429_s", float),
    "APCA_SUBMIT_ATTEMPTS": ("submit_attempts", int),
    "APCA_ALLOW_FRACTIONAL": ("allow_fractional", bool),
    "APCA_REQUIRE_OPEN": ("require_open", bool),
    "APCA_BACKOFF": ("backoff", tuple),  # "min,max" seconds of the stream's reconnect back-off
}


def knobs_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The :data:`ENV_KNOBS` set in ``env`` as :class:`AlpacaConfig` keyword arguments; a bad value raises
    :class:`ExecutorError` naming the variable."""
    out: dict[str, Any] = {}
    for var, (field, kind) in ENV_KNOBS.items():
        raw = env.get(var)
        if raw is None or raw.strip() == "":
            continue
        try:
            if kind is bool:
                if raw.strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                out[field] = raw.strip().lower() in ("1", "true", "yes")
            elif kind is tuple:
                lo, hi = (float(x) for x in raw.split(","))
                if not 0 < lo <= hi:
                    raise ValueError(raw)
                out[field] = (lo, hi)
            else:
                value = kind(raw)
                if not value > 0:
                    raise ValueError(raw)
                out[field] = value
        except ValueError:
            want = "0 or 1" if kind is bool else "two positive numbers 'min,max'" if kind is tuple else "a number > 0"
            raise ExecutorError(f"{var}={raw!r}: expected {want}") from None
    return out


def fake_price_hook(base_url: str) -> str | None:
    """The loopback fake's price hook (``/_fake/prices``) for a replay against it; None for a real endpoint."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return base_url.rstrip("/") + "/_fake/prices" if host in ("127.0.0.1", "localhost") else None
