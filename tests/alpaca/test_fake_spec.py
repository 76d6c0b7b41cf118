"""The fake answers in Alpaca's shapes: every JSON body it sent in a session that touches each endpoint is
validated against the response schema of Alpaca's OpenAPI spec (/work/shared/specs/alpaca-trading-api.json),
and parses into alpaca-py's own models."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Order, Position, TradeAccount
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream

from tests.alpaca.support import entry
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.execution.alpaca.wire import order_request

jsonschema = pytest.importorskip("jsonschema")
SPEC = Path("/work/shared/specs/alpaca-trading-api.json")
if not SPEC.exists():  # the spec is shared reference material beside the repository
    SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "alpaca-trading-api.json"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` as JSON Schema (``type: [t, "null"]``; a nullable ``$ref`` or enum too)."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not found")
    return _nullable(json.loads(SPEC.read_text()))


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    root = dict(spec)
    root.update(schema)
    return jsonschema.Draft202012Validator(root)


def _schema_for(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any] | None:
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            resp = item[method.lower()]["responses"].get(str(status), {})
            return resp.get("content", {}).get("application/json", {}).get("schema")
    return None


def _session(fake: FakeAlpaca) -> list[dict[str, Any]]:
    """Touch every endpoint the executor uses, errors included; return the stream events seen."""
    c = TradingClient(fake.key_id, fake.secret_key, paper=True, url_override=fake.base_url)
    events: list[dict[str, Any]] = []
    stream = TradingStream(fake.key_id, fake.secret_key, raw_data=True, url_override=fake.stream_url)

    async def on(msg: dict[str, Any]) -> None:
        events.append(msg["data"])

    stream.subscribe_trade_updates(on)
    t = threading.Thread(target=stream.run, daemon=True)
    t.start()
    time.sleep(0.5)
    assert isinstance(c.get_account(), TradeAccount)
    c.get_clock()
    c.get_asset("AAA")
    o = entry("AAA", 10, stop_loss=95.0, take_profit=110.0)
    assert isinstance(c.submit_order(order_request(o, 10, bracket=True)), Order)
    fake.price({"AAA": 100.5})
    assert all(isinstance(p, Position) for p in c.get_all_positions())
    c.get_open_position("AAA")
    c.get_order_by_client_id(o.client_order_id)
    c.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    c.get_orders()
    c.get("/account/activities/FILL", {"direction": "asc"})
    for bad in (entry("AAA", 0, seq=1), o):  # 422 qty, 422 duplicate
        with pytest.raises(Exception):  # noqa: B017 - alpaca-py's APIError; the body is what is checked
            c.submit_order(order_request(bad, bad.quantity, bracket=False))
    fake.book.buying_power_override = 0.0
    with pytest.raises(Exception):  # noqa: B017
        c.submit_order(order_request(entry("BBB", 5, seq=2), 5, bracket=False))
    leg = c.get_orders()[0]
    c.cancel_order_by_id(leg.id)
    with pytest.raises(Exception):  # noqa: B017 - 422 already canceled
        c.cancel_order_by_id(leg.id)
    time.sleep(0.3)
    stream.stop()
    fake.stream.drop()  # ends the client's 5 s receive poll at once
    t.join(10)
    return events


def test_every_response_body_matches_the_openapi_schema(fake: FakeAlpaca, spec: dict[str, Any]) -> None:
    events = _session(fake)
    checked: set[tuple[str, int]] = set()
    for method, path, status, body in fake.responses:
        if body is None or path.startswith("/_fake/"):
            continue
        if status >= 400:
            schema = {"$ref": "#/components/schemas/Error"}
        elif path == "/v2/account/activities/FILL":  # the spec's oneOf of two loose shapes; rows are trading ones
            schema = {"type": "array", "items": {"$ref": "#/components/schemas/TradingActivities"}}
        else:
            schema = _schema_for(spec, method, path, status)
        assert schema is not None, f"no schema in the spec for {method} {path} {status}"
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(spec, schema).iter_errors(body)
        ]
        assert not errors, f"{method} {path} {status}: {errors[:5]}"
        checked.add((re.sub(r"[0-9a-f-]{36}|AAA|BBB", "{id}", path), status))
    assert {
        ("/v2/account", 200),
        ("/v2/clock", 200),
        ("/v2/orders", 200),
        ("/v2/positions", 200),
        ("/v2/orders:by_client_order_id", 200),
        ("/v2/account/activities/FILL", 200),
        ("/v2/orders", 422),
        ("/v2/orders", 403),
        ("/v2/orders/{id}", 422),
        ("/v2/assets/{id}", 200),
    } <= checked
    order_schema = _validator(spec, {"$ref": "#/components/schemas/Order"})
    kinds = {e["event"] for e in events}
    assert {"new", "fill", "canceled"} <= kinds
    for e in events:
        assert not list(order_schema.iter_errors(e["order"])), e["event"]
        if e["event"] in ("fill", "partial_fill"):
            assert re.fullmatch(r"[0-9a-f-]{36}", e["execution_id"]) and isinstance(e["qty"], str)


def test_schema_check_catches_a_bad_body(spec: dict[str, Any]) -> None:
    """The check can fail: a number where Alpaca sends a string, an unknown status."""
    v = _validator(spec, {"$ref": "#/components/schemas/Order"})
    with FakeAlpaca(symbols=("AAA",)) as f:
        f.price({"AAA": 10.0})
        good = f.book.submit({"symbol": "AAA", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"})
    assert not list(v.iter_errors(good))
    assert list(v.iter_errors({**good, "filled_qty": 0}))
    assert list(v.iter_errors({**good, "status": "working"}))


def test_auth_is_checked_like_alpaca(fake: FakeAlpaca) -> None:
    bad = TradingClient("wrong", "keys", paper=True, url_override=fake.base_url)
    with pytest.raises(Exception) as e:  # noqa: B017
        bad.get_account()
    assert getattr(e.value, "status_code", None) == 401
