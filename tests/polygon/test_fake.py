"""The fake speaks Polygon's wire format: checked with the official ``massive`` clients and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from massive import RESTClient, WebSocketClient
from massive.exceptions import AuthError, BadResponse
from massive.websocket.models import EquityAgg

from tradingmodel.data.polygon.fake import FakePolygon

from .support import API_KEY


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_binds_loopback_only(fake) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.ws_url.startswith("ws://127.0.0.1:")
    assert fake._http.server_address[0] == "127.0.0.1"
    assert fake.feed._server.sockets[0].getsockname()[0] == "127.0.0.1"


def test_official_rest_client_pages_through_everything(fake, bars) -> None:
    fake.page_size = 100
    client = RESTClient(api_key=API_KEY, base=fake.base_url)
    aggs = list(client.list_aggs("AAPL", 1, "minute", "2024-01-01", "2024-01-31", limit=50_000))
    src = bars[bars["symbol"] == "AAPL"]
    assert [a.timestamp for a in aggs] == list(src["timestamp"].astype("int64") // 1000)
    assert [a.close for a in aggs] == list(src["close"])
    assert len(fake.requests) == 12  # 1,170 bars / 100 per page


def test_response_shape_and_api_key_query_param(fake) -> None:
    fake.page_size = 2
    status, body = get_json(
        f"{fake.base_url}/v2/aggs/ticker/MSFT/range/1/minute/2024-01-02/2024-01-02?limit=5000&apiKey={API_KEY}"
    )
    assert status == 200
    assert set(body) == {
        "ticker",
        "queryCount",
        "resultsCount",
        "adjusted",
        "results",
        "status",
        "request_id",
        "count",
        "next_url",
    }
    assert body["status"] == "OK" and body["resultsCount"] == body["count"] == 2 and len(body["request_id"]) == 32
    assert set(body["results"][0]) == {"v", "vw", "o", "c", "h", "l", "t", "n"}
    assert "apiKey" not in body["next_url"] and "cursor=" in body["next_url"]
    # an empty range leaves "results" out
    status, body = get_json(
        f"{fake.base_url}/v2/aggs/ticker/MSFT/range/1/minute/2023-01-02/2023-01-03?apiKey={API_KEY}"
    )
    assert status == 200 and "results" not in body and body["resultsCount"] == 0


@pytest.mark.parametrize(
    ("url_key", "code", "field", "text"),
    [
        ("", 401, "error", "API Key was not provided"),
        ("&apiKey=bad", 401, "error", "Unknown API Key"),
    ],
)
def test_auth_errors(fake, url_key, code, field, text) -> None:
    status, body = get_json(f"{fake.base_url}/v2/aggs/ticker/MSFT/range/1/day/2024-01-02/2024-01-05?x=1{url_key}")
    assert status == code and body[field] == text and body["status"] == "ERROR"


def test_error_switches(fake) -> None:
    client = RESTClient(api_key=API_KEY, base=fake.base_url, retries=0)
    with pytest.raises(BadResponse, match="NOT_FOUND"):
        client.get_aggs("NOPE", 1, "day", "2024-01-01", "2024-01-05")
    fake.plan_start_ms = 1_800_000_000_000
    with pytest.raises(BadResponse, match="NOT_AUTHORIZED"):
        client.get_aggs("AAPL", 1, "day", "2024-01-01", "2024-01-05")
    fake.plan_start_ms = None
    fake.fail_next(429, 1, retry_after="7")
    status, body = get_json(f"{fake.base_url}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05?apiKey={API_KEY}")
    assert status == 429 and "exceeded the maximum requests" in body["error"]
    # the official client retries 429/5xx itself (urllib3) and gets through a short burst
    fake.fail_next(503, 2)
    assert (
        len(RESTClient(api_key=API_KEY, base=fake.base_url).get_aggs("AAPL", 1, "day", "2024-01-01", "2024-01-05")) == 3
    )


def test_official_websocket_client_receives_minute_aggregates(bars) -> None:
    with FakePolygon(bars, api_key=API_KEY, live=True) as fake:
        ws = WebSocketClient(
            api_key=API_KEY,
            feed=f"127.0.0.1:{fake.feed.port}",
            secure=False,
            subscriptions=["AM.AAPL", "AM.MSFT"],
            max_reconnects=0,
        )
        got: list = []

        async def handle(msgs: list) -> None:
            got.extend(msgs)
            if len(got) >= 10:
                await ws.close()

        async def main() -> None:
            task = asyncio.create_task(ws.connect(handle))
            while fake.feed.subscribed_count() < 1 or len(fake.feed.conns[0].subs) < 2:
                await asyncio.sleep(0.005)
            fake.feed.publish(5)
            await asyncio.wait_for(task, 10)

        asyncio.run(main())
    assert len(got) == 10 and all(isinstance(m, EquityAgg) for m in got)
    first = got[0]
    row = bars[(bars["symbol"] == first.symbol)].iloc[0]
    assert first.event_type == "AM" and first.close == row["close"] and first.volume == int(row["volume"])
    assert first.end_timestamp - first.start_timestamp == 60_000
    assert first.start_timestamp == row["timestamp"].value // 10**6


def test_official_websocket_client_auth_failure(bars) -> None:
    with FakePolygon(bars, api_key=API_KEY, live=True) as fake:
        ws = WebSocketClient(
            api_key="bad", feed=f"127.0.0.1:{fake.feed.port}", secure=False, subscriptions=["AM.AAPL"], max_reconnects=0
        )

        async def handle(msgs: list) -> None:
            return None

        with pytest.raises(AuthError, match="authentication failed"):
            asyncio.run(asyncio.wait_for(ws.connect(handle), 10))


def test_subscription_acks_one_per_topic(bars) -> None:
    import websockets

    async def main(fake: FakePolygon) -> list:
        async with websockets.connect(fake.ws_url) as ws:
            assert json.loads(await ws.recv()) == [
                {"ev": "status", "status": "connected", "message": "Connected Successfully"}
            ]
            await ws.send(json.dumps({"action": "auth", "params": API_KEY}))
            assert json.loads(await ws.recv())[0]["status"] == "auth_success"
            await ws.send(json.dumps({"action": "subscribe", "params": "AM.AAPL, AM.MSFT"}))
            return [json.loads(await ws.recv())[0]["message"] for _ in range(2)]

    with FakePolygon(bars, api_key=API_KEY, live=True) as fake:
        assert asyncio.run(main(fake)) == ["subscribed to: AM.AAPL", "subscribed to: AM.MSFT"]
