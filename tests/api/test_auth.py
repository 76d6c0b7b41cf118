"""Every route but /health refuses a missing or wrong key, the WebSocket included (close 1008)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.api.conftest import HEADERS, KEY, Api
from tradingmodel.api.security import is_loopback, key_ok

ROUTES = [
    ("GET", "/api/v1/market-data/AAA", None),
    ("POST", "/api/v1/analysis/predict", {"symbol": "AAA"}),
    ("GET", "/api/v1/portfolio", None),
    ("POST", "/api/v1/model/train", {"symbols": ["AAA"]}),
    ("GET", "/api/v1/model/jobs/1", None),
    ("DELETE", "/api/v1/model/jobs/1", None),
    ("GET", "/api/v1/model/status", None),
    ("GET", "/api/v1/runs", None),
    ("GET", "/api/v1/runs/7/report", None),
]


def test_every_route_is_listed(api: Api) -> None:
    """The list above covers every /api/v1 route of the app, so a new route cannot skip the key check."""
    paths = {
        (m, p)
        for p, item in api.client.get("/openapi.json").json()["paths"].items()
        for m in (k.upper() for k in item)
        if p.startswith("/api/")
    }
    listed = {
        (m, p.replace("AAA", "{symbol}").replace("/1", "/{job_id}").replace("/7/", "/{run_id}/")) for m, p, _ in ROUTES
    }
    assert paths == listed


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_routes_refuse_missing_and_wrong_keys(api: Api, method: str, path: str, body: object) -> None:
    for headers, status, words in (
        ({}, 401, "missing API key"),
        ({"X-API-Key": "nope"}, 403, "wrong API key"),
        ({"X-API-Key": KEY + "x"}, 403, "wrong API key"),
    ):
        r = httpx.request(method, api.base + path, json=body, headers=headers)
        assert r.status_code == status, (path, headers, r.text)
        assert r.json()["detail"].startswith(words)
    # the right key gets past the check (whatever the route then says about the request)
    r = httpx.request(method, api.base + path, json=body, headers=HEADERS)
    assert r.status_code not in (401, 403)
    r = httpx.request(method, api.base + path, json=body, headers={"X-API-Key": "second-key"})
    assert r.status_code not in (401, 403)


# Public on purpose (docs/api.md, "Public on purpose"): pages a browser opens, holding no data.
PUBLIC = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/", "/dashboard/plotly.min.js"}


def test_only_the_documented_pages_are_public(api: Api) -> None:
    """Every route outside /api/ is one of PUBLIC (or the dashboard's static files); the pages load without
    a key and the schema declares the key, so Swagger UI's Authorize button sends it on "Try it out"."""
    schema = httpx.get(api.base + "/openapi.json").json()
    top = {r.path for r in api.app.routes if hasattr(r, "path")} - {"/dashboard"}  # the static files' mount
    outside = {p for p in {*schema["paths"], *top} if not p.startswith("/api/")}
    assert outside <= PUBLIC, outside - PUBLIC
    for path in ("/docs", "/openapi.json", "/"):
        assert httpx.get(api.base + path).status_code == 200, path
    assert schema["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "one of TRADINGMODEL_API_KEYS",
    }
    for path in ("/docs", "/openapi.json", "/"):  # no key is ever written into a public page
        assert KEY not in httpx.get(api.base + path).text, path


def test_health_needs_no_key_and_reports_the_database(api: Api) -> None:
    r = httpx.get(api.base + "/health")
    assert r.status_code == 200
    assert r.json()["database"] is True


async def _ws_close_code(url: str, headers: dict[str, str], first: dict | None) -> tuple[int | None, list]:
    got: list = []
    async with websockets.connect(url, additional_headers=headers) as ws:
        if first is not None:
            await ws.send(json.dumps(first))
        try:
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None, got


@pytest.mark.parametrize(
    ("headers", "first"),
    [
        ({"X-API-Key": "nope"}, None),
        ({}, {"type": "auth", "key": "nope"}),
        ({}, {"type": "subscribe", "channels": ["bars"]}),  # no auth message first
    ],
)
def test_websocket_refuses_missing_or_wrong_key(api: Api, headers: dict, first: dict | None) -> None:
    code, got = asyncio.run(_ws_close_code(api.ws_base + "/api/v1/ws", headers, first))
    assert code == 1008
    assert got == []  # not even the greeting


def test_websocket_accepts_the_key_in_a_first_message(api: Api) -> None:
    async def run() -> dict:
        async with websockets.connect(api.ws_base + "/api/v1/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "key": KEY}))
            return json.loads(await asyncio.wait_for(ws.recv(), 15))

    assert asyncio.run(run())["type"] == "hello"


def test_key_comparison_and_loopback() -> None:
    assert key_ok(["a", "bb"], "bb") and not key_ok(["a", "bb"], "b") and not key_ok([], "")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
