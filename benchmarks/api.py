"""API benchmark: requests/s and p50/p99 latency at 50 concurrent clients on loopback, and WebSocket fan-out.

* ``GET /api/v1/market-data/AAA?limit=1000`` and ``POST /api/v1/analysis/predict`` on ``tradingmodel serve``
  (SQLite, simulated bars, a tiny model), each beside a bare FastAPI route returning the same JSON bytes
  from memory in its own uvicorn process: the ratio is what the store, the features, the model and the
  validation cost on top of the web stack.
* fan-out: 1,000 events appended to the events table, each delivered to 100 subscribed WebSocket clients;
  the reference is a bare FastAPI WebSocket route sending the same 1,000 messages from memory to 100 clients.

Run: ``python benchmarks/api.py [--requests 400] [--clients 50]``. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets
from _serve import start_serve, wait_up

KEY = "bench-key"
SRC = str(Path(__file__).resolve().parents[1] / "src")
BARE = """
import sys, asyncio, uvicorn
from pathlib import Path
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
bodies = {name: Path(sys.argv[2], name + ".json").read_bytes() for name in ("bars", "predict")}
events = Path(sys.argv[2], "events.txt").read_text().splitlines()
app, clients = FastAPI(), set()
@app.get("/bars")
def bars() -> Response:
    return Response(bodies["bars"], media_type="application/json")
@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(bodies["predict"], media_type="application/json")
@app.post("/fire")
async def fire() -> dict:
    for text in events:
        await asyncio.gather(*(ws.send_text(text) for ws in list(clients)))
    return {}
@app.websocket("/ws")
async def ws(sock: WebSocket) -> None:
    await sock.accept()
    clients.add(sock)
    try:
        while True:
            await sock.receive_text()
    except WebSocketDisconnect:
        clients.discard(sock)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(
    base: str, method: str, path: str, body: dict | None, n: int, clients: int, headers: dict[str, str]
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of ``n`` requests by ``clients`` concurrent clients."""
    lat: list[float] = []
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as c:
        await c.request(method, path, json=body)  # warm-up

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                r = await c.request(method, path, json=body)
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return n / wall, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


async def _fanout(url: str, headers: dict[str, str], n_clients: int, n_events: int, fire) -> float:  # noqa: ANN001
    """Seconds from firing until every client has received ``n_events`` messages."""
    socks = [await websockets.connect(url, additional_headers=headers, max_size=None) for _ in range(n_clients)]
    for s in socks:
        if "api/v1" in url:
            await s.recv()  # hello
            await s.send(json.dumps({"type": "subscribe", "channels": ["bars"]}))
    await asyncio.sleep(1.0)

    async def drain(s: websockets.ClientConnection) -> None:
        got = 0
        while got < n_events:
            if json.loads(await s.recv()).get("type") != "heartbeat":
                got += 1

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(drain(s)) for s in socks]
    await asyncio.to_thread(fire)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    dt = time.perf_counter() - t0
    for s in socks:
        await s.close()
    return dt


def _line(figure: str, value: float, unit: str, ref: float, ref_name: str) -> None:
    print(f"{figure}: {value:,.1f} {unit} = {value / ref:.2f}x {ref_name} ({ref:,.1f} {unit})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--ws-clients", type=int, default=100)
    ap.add_argument("--events", type=int, default=1000)
    args = ap.parse_args()
    sys.path.insert(0, SRC)
    import torch

    from tradingmodel.config import ModelConfig
    from tradingmodel.data import simulate
    from tradingmodel.model import train
    from tradingmodel.store import get_engine, ingest_bars, save_model
    from tradingmodel.store.schema import Event, utcnow

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    url = f"sqlite:///{tmp}/bench.db"
    engine = get_engine(url)
    bars = simulate(["AAA"], 5, seed=1, signal=1.0)
    ingest_bars(engine, bars)
    cfg = ModelConfig(sequence_length=60, hidden_size=32, num_layers=2, num_epochs=1, seed=1)
    train(bars, cfg, tmp / "model", progress=False)
    save_model(engine, "bench", str(tmp / "model"), {}, symbols=["AAA"])

    ours_port, bare_port = _port(), _port()
    ours = start_serve(url, tmp, ours_port, KEY)
    base = f"http://127.0.0.1:{ours_port}"
    headers = {"X-API-Key": KEY}
    bare = None
    try:
        market = "/api/v1/market-data/AAA?limit=1000"
        pred = {"symbol": "AAA"}
        (tmp / "bars.json").write_bytes(httpx.get(base + market, headers=headers, timeout=120).content)
        (tmp / "predict.json").write_bytes(
            httpx.post(base + "/api/v1/analysis/predict", json=pred, headers=headers, timeout=120).content
        )
        events = [
            json.dumps({"type": "bar", "id": i, "data": {"close": 100.0 + i}, "symbol": "AAA"})
            for i in range(args.events)
        ]
        (tmp / "events.txt").write_text("\n".join(events))
        env = {**os.environ, "PYTHONPATH": SRC}
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port), str(tmp)], env=env)
        bare_base = f"http://127.0.0.1:{bare_port}"
        wait_up(bare_base, "/bars", bare)

        n, c = args.requests, args.clients
        for name, method, path, body, ref_path in (
            ("market-data 1000 bars", "GET", market, None, "/bars"),
            ("predict", "POST", "/api/v1/analysis/predict", pred, "/predict"),
        ):
            rps, p50, p99 = asyncio.run(_load(base, method, path, body, n, c, headers))
            rrps, rp50, rp99 = asyncio.run(_load(bare_base, method, ref_path, body, n, c, {}))
            _line(f"{name} at {c} clients, requests/s", rps, "req/s", rrps, "bare FastAPI route")
            _line(f"{name} at {c} clients, p50", p50, "ms", rp50, "bare FastAPI route")
            _line(f"{name} at {c} clients, p99", p99, "ms", rp99, "bare FastAPI route")

        def append() -> None:
            from sqlalchemy import insert

            with engine.begin() as conn:  # one transaction, as a replayed session's batch would
                conn.execute(
                    insert(Event.__table__),
                    [
                        dict(
                            run_id=None,
                            type="bar",
                            symbol="AAA",
                            bar_time=None,
                            data={"close": 100.0 + i},
                            created_at=utcnow(),
                        )
                        for i in range(args.events)
                    ],
                )

        ws_url = base.replace("http", "ws") + "/api/v1/ws"
        dt = asyncio.run(_fanout(ws_url, headers, args.ws_clients, args.events, append))
        rdt = asyncio.run(
            _fanout(
                bare_base.replace("http", "ws") + "/ws",
                {},
                args.ws_clients,
                args.events,
                lambda: httpx.post(bare_base + "/fire", timeout=300),
            )
        )
        total = args.events * args.ws_clients
        _line(
            f"websocket fan-out {args.events} events to {args.ws_clients} clients, messages/s",
            total / dt,
            "msg/s",
            total / rdt,
            "bare FastAPI WebSocket sending from memory",
        )
        _line(
            f"websocket fan-out {args.events} events to {args.ws_clients} clients, time",
            dt * 1000,
            "ms",
            rdt * 1000,
            "bare FastAPI WebSocket sending from memory",
        )
    finally:
        for p in (ours, bare):
            if p is not None:
                p.terminate()
                p.wait(30)


if __name__ == "__main__":
    main()
