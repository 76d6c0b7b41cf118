"""API keys: ``X-API-Key`` on every route but ``/health``, compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

header = APIKeyHeader(name="X-API-Key", auto_error=False, description="one of TRADINGMODEL_API_KEYS")


def key_ok(keys: list[str], given: str) -> bool:
    """Whether ``given`` is one of ``keys``; every key is compared (constant time, no early exit)."""
    g = given.encode()
    ok = False
    for k in keys:
        ok |= hmac.compare_digest(k.encode(), g)
    return ok and bool(keys)


def require_key(request: Request, key: str | None = Depends(header)) -> None:
    """FastAPI dependency: 401 without a key, 403 with a wrong one."""
    if key is None:
        raise HTTPException(401, "missing API key: send it in the X-API-Key header")
    if not key_ok(request.app.state.api_keys, key):
        raise HTTPException(403, "wrong API key")


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_key() -> str:
    """A random key for a loopback server started without ``TRADINGMODEL_API_KEYS``."""
    return secrets.token_urlsafe(24)
