"""WS /api/v1/ws: a paper session's events written by another process arrive in order; after a forced
disconnect, ``?since=`` resumes with none missing or doubled; filters, heartbeats, slow clients."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

from tests.api.conftest import HEADERS, SRC, Api, add_event, start_api, wait_for

N_EVENTS = 240
# A stand-in for the live engine in its own process: a session row, then bar/signal/order/fill/portfolio
# events for two symbols, each in its own transaction, a little apart.
WRITER = """
import sys, time
from datetime import UTC, datetime, timedelta
from sqlalchemy import insert
from tradingmodel.store import get_engine, save_run_row
from tradingmodel.store.schema import Event, utcnow
engine = get_engine(sys.argv[1])
rid = save_run_row(engine, "paper", "", {}, None, symbols=["AAA", "BBB"], status="running")
types = ["bar", "signal", "order", "fill", "portfolio", "prediction"]
t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
for i in range(int(sys.argv[2])):
    typ = types[i % len(types)]
    sym = None if typ == "portfolio" else ("AAA", "BBB")[i % 2]
    with engine.begin() as conn:
        conn.execute(insert(Event.__table__).values(run_id=rid, type=typ, symbol=sym,
                     bar_time=t0 + timedelta(minutes=i // 6), data={"seq": i}, created_at=utcnow()))
    time.sleep(0.004)
"""


def _writer(url: str, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, url, str(n)], env={**os.environ, "PYTHONPATH": SRC})


async def _collect(url: str, sub: dict, until: int, abort_after: int | None = None) -> list[dict]:
    """Events (not heartbeats) until the one with seq ``until``, or abort the TCP connection after
    ``abort_after`` of them (a forced disconnect: no close handshake)."""
    got: list[dict] = []
    async with websockets.connect(url, additional_headers=HEADERS) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps(sub))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "heartbeat":
                continue
            assert m["type"] != "error", m
            got.append(m)
            if abort_after is not None and len(got) >= abort_after:
                ws.transport.abort()
                return got
            if m["data"]["seq"] == until:
                return got


def test_replayed_session_arrives_in_order_and_resumes_after_a_disconnect(api: Api) -> None:
    url = api.ws_base + "/api/v1/ws"
    sub = {"type": "subscribe", "channels": [], "symbols": []}

    async def run() -> tuple[list[dict], list[dict]]:
        task = asyncio.create_task(_collect(url, sub, N_EVENTS - 1, abort_after=70))
        await asyncio.sleep(0.5)  # connected and subscribed before the engine starts writing
        proc = _writer(api.url, N_EVENTS)
        first = await task
        await asyncio.sleep(0.3)  # events keep coming while the client is away
        second = await _collect(f"{url}?since={first[-1]['id']}", sub, N_EVENTS - 1)
        assert await asyncio.to_thread(proc.wait) == 0
        return first, second

    first, second = asyncio.run(run())
    ids = [m["id"] for m in first + second]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == N_EVENTS  # none missing, none doubled
    assert [m["data"]["seq"] for m in first + second] == list(range(N_EVENTS))  # the engine's order
    m = first[0]
    assert m["type"] == "bar" and m["symbol"] == "AAA" and m["run_id"] and m["bar_time"].startswith("2024-01-02")


def test_filters_by_channel_and_symbol(api: Api) -> None:
    url = api.ws_base + "/api/v1/ws?since=0"
    for i in range(30):
        add_event(
            api.engine,
            ("fill", "order", "job")[i % 3],
            {"seq": i},
            symbol=None if i % 3 == 2 else "AAA" if i % 2 else "BBB",
        )
    add_event(api.engine, "fill", {"seq": 99}, symbol="AAA")
    got = asyncio.run(_collect(url, {"type": "subscribe", "channels": ["fills", "jobs"], "symbols": ["aaa"]}, 99))
    assert {m["type"] for m in got} == {"fill", "job"}
    assert all(m["symbol"] in ("AAA", None) for m in got)
    want = [i for i in range(30) if i % 3 == 2 or (i % 3 == 0 and i % 2)] + [99]
    assert [m["data"]["seq"] for m in got] == want


def test_heartbeats_and_bad_messages(api: Api) -> None:
    async def run() -> list[dict]:
        async with websockets.connect(api.ws_base + "/api/v1/ws", additional_headers=HEADERS) as ws:
            out = [json.loads(await ws.recv())]
            await ws.send("not json")
            out.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"type": "subscribe", "channels": ["nope"]}))
            out.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"type": "subscribe", "channels": ["bars"]}))
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))  # idle: a heartbeat (every 0.5 s here)
            return out

    hello, bad, unknown, beat = asyncio.run(run())
    assert hello["type"] == "hello" and "bars" in hello["data"]["channels"]
    assert (
        bad["type"] == "error"
        and unknown["type"] == "error"
        and "unknown channel(s) nope" in unknown["data"]["message"]
    )
    assert beat["type"] == "heartbeat"


def test_bad_since_is_refused(api: Api) -> None:
    async def run() -> tuple[dict, int | None]:
        async with websockets.connect(api.ws_base + "/api/v1/ws?since=-3", additional_headers=HEADERS) as ws:
            msg = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return msg, e.value.rcvd.code if e.value.rcvd else None

    msg, code = asyncio.run(run())
    assert msg["type"] == "error" and "since" in msg["data"]["message"] and code == 1008


def _stalled_client(port: int, key: str) -> socket.socket:
    """A WebSocket client that completes the handshake, subscribes and then never reads (a tiny receive
    buffer, so the server's writes back up at once)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"type": "subscribe"}).encode()
    mask = os.urandom(4)
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return sock


@pytest.mark.slow
def test_a_slow_client_is_dropped_and_never_slows_the_others(db_url: str, tmp_path: Path) -> None:
    # A queue of 1,000 leaves a reading client room on a loaded 2-core machine; 4,000 events of 8 kB (~32 MB)
    # are still far more than that queue plus the socket buffers of a client that does not read.
    srv, api = start_api(db_url, tmp_path, ws_queue=1000)
    n, blob = 4000, "x" * 8000
    try:

        async def run() -> list[int]:
            url = api.ws_base + "/api/v1/ws"
            slow = _stalled_client(int(api.base.rsplit(":", 1)[1]), HEADERS["X-API-Key"])
            async with websockets.connect(url, additional_headers=HEADERS, max_size=None) as fast:
                await fast.recv()
                await fast.send(json.dumps({"type": "subscribe"}))
                await asyncio.sleep(0.3)

                def write() -> None:
                    for i in range(n):
                        add_event(api.engine, "bar", {"seq": i, "pad": blob}, symbol="AAA")

                writer = asyncio.create_task(asyncio.to_thread(write))
                seqs: list[int] = []
                while len(seqs) < n:
                    m = json.loads(await asyncio.wait_for(fast.recv(), 60))
                    if m["type"] == "bar":
                        seqs.append(m["data"]["seq"])
                await writer
            await asyncio.to_thread(
                wait_for, lambda: api.app.state.hub.dropped >= 1, 30, 0.05, "the slow client to be dropped"
            )
            slow.close()
            return seqs

        assert asyncio.run(run()) == list(range(n))  # the fast client got everything, in order
        assert api.app.state.hub.dropped == 1  # only the slow one was dropped
        wait_for(lambda: not api.app.state.hub.subscribers, 30, what="both clients to be gone")
    finally:
        api.client.close()
        srv.__exit__()
