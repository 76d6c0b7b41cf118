"""Dashboard benchmark: event commit → drawn on the page, and the page's JS heap over a long replay.

Setup: ``tradingmodel serve`` (its own process, the shipped defaults: WebSocket poller every 0.1 s, no
training worker) over a SQLite file holding one session of simulated bars of 10 symbols, a running paper
session of those symbols opened with ``store.open_session``, Debian's ``/usr/bin/chromium`` (Playwright)
logged in on the page, and a bare Python WebSocket client (``websockets``) subscribed to everything.

* **latency**: every second one slice (10 ``bar`` events and a ``portfolio`` event) is appended through
  the engine's own store (``SessionStore.append_events``, one transaction). The commit time of each event is
  ``time.time()`` taken right after that call returns (the transaction has committed). The draw time is
  recorded by the page's render code: ``performance.timeOrigin + performance.now()`` in the animation frame
  that updated the chart holding that event (``window.dashboard.drawn``), read back with Playwright. Both
  clocks are this host's wall clock: Python's ``time.time()`` and Chromium's high-resolution time origin;
  the run measures their offset (the page clock read between two ``time.time()`` calls, the smallest round
  trip of 20) and prints it, so a mismatch would show. Reference: the same events' arrival at the bare
  Python client (``time.time()`` on receipt), in the same run: the ratio is what the browser, the JSON
  handling, Plotly and the frame add on top of the server's delivery.
* **memory**: ``--minutes`` (30) of per-second slices of 10 symbols (bar + prediction each, a portfolio
  event per slice) written back to back as fast as the store takes them; the page's used JS heap (CDP
  ``HeapProfiler.collectGarbage`` then ``Runtime.getHeapUsage``) after the first minute's slices, after all
  of them, and after as many again, once the page has drawn the last event. Charts keep ``max_points``
  points (page default 2,000), so the heap must stop growing.

Run: ``python benchmarks/dashboard.py [--seconds 60] [--minutes 30] [--quick]``. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import websockets

KEY = "bench-key"
SRC = str(Path(__file__).resolve().parents[1] / "src")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SYMBOLS = [f"S{i:02d}" for i in range(10)]
sys.path.insert(0, SRC)

from _serve import start_serve  # noqa: E402

from tradingmodel.data import simulate  # noqa: E402
from tradingmodel.store import get_engine, ingest_bars  # noqa: E402
from tradingmodel.store.sessions import EventRow, SessionStore, open_session  # noqa: E402


class PyClient:
    """A bare WebSocket client in its own thread: the arrival time (``time.time()``) of every event id."""

    def __init__(self, url: str) -> None:
        self.url, self.seen = url, {}
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()
        if not self.ready.wait(30):
            raise SystemExit("the Python WebSocket client did not connect")

    async def _run(self) -> None:
        async with websockets.connect(self.url, additional_headers={"X-API-Key": KEY}, max_size=None) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe", "channels": [], "symbols": []}))
            self.ready.set()
            while not self.stop.is_set():
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return  # the server stopped at the end of the run
                now = time.time()
                msg = json.loads(text)
                if isinstance(msg.get("id"), int) and msg["type"] not in ("hello", "heartbeat"):
                    self.seen[msg["id"]] = now


def _slice(t: pd.Timestamp, i: int, predictions: bool) -> list[EventRow]:
    ev = []
    for k, s in enumerate(SYMBOLS):
        c = 100.0 + k + np.sin(i / 30 + k)
        ev.append(
            EventRow(
                "bar",
                {
                    "open": c,
                    "high": c + 0.1,
                    "low": c - 0.1,
                    "close": c,
                    "volume": 100 + i % 50,
                    "status": "applied",
                    "gap_bars": 0,
                },
                s,
                t.to_pydatetime(),
            )
        )
        if predictions:
            ev.append(
                EventRow(
                    "prediction", {"predicted_close": c * 1.001, "close": c, "confidence": 0.55}, s, t.to_pydatetime()
                )
            )
    ev.append(
        EventRow(
            "portfolio",
            {"equity": 10_000.0 + np.sin(i / 50) * 50, "cash": 10_000.0, "positions": {}},
            None,
            t.to_pydatetime(),
        )
    )
    return ev


def _clock_offset(page: Any) -> tuple[float, float]:
    """(page clock − time.time(), half the round trip) in ms, from the smallest of 20 round trips."""
    best = (0.0, float("inf"))
    for _ in range(20):
        t0 = time.time()
        p = page.evaluate("performance.timeOrigin + performance.now()")
        t1 = time.time()
        if (t1 - t0) / 2 * 1000 < best[1]:
            best = (p - (t0 + t1) / 2 * 1000, (t1 - t0) / 2 * 1000)
    return best


def _caught_up(page: Any, last_id: int, timeout: float = 300) -> None:
    try:
        page.wait_for_function(f"window.dashboard.drawn.has({last_id})", timeout=timeout * 1000, polling=100)
    except Exception:
        st = page.evaluate(
            "({last: window.dashboard.lastId, drawn: window.dashboard.drawn.size, "
            "conn: document.getElementById('conn').textContent})"
        )
        raise SystemExit(f"the page did not draw event {last_id} within {timeout:.0f} s: {st}") from None


def _heap(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20


def _pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.array(a), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60, help="latency phase: seconds of one slice per second")
    ap.add_argument("--minutes", type=int, default=30, help="memory phase: minutes of per-second slices")
    ap.add_argument("--height", type=int, default=768, help="viewport height (1366 wide); 5200: all charts on screen")
    ap.add_argument("--quick", action="store_true", help="20 s latency, 10 minutes replay")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.minutes = 20, 10
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        url = f"sqlite:///{tmp}/bench.db"
        engine = get_engine(url)
        ingest_bars(engine, simulate(SYMBOLS, 1, seed=3))
        info = open_session(engine, "bench", symbols=SYMBOLS, config_toml="")
        store = SessionStore(engine, info.run_id)
        port = 18_000 + os.getpid() % 1000
        proc = start_serve(url, tmp, port, KEY)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                # the page redraws only the charts on screen: --height 5200 puts all 10 there
                page = browser.new_context(viewport={"width": 1366, "height": a.height}).new_page()
                errors: list[str] = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.goto(base + "/")
                page.fill("#key", KEY)
                page.click("#login-form button[type=submit]")
                page.wait_for_selector("#conn.live", timeout=60_000)
                page.wait_for_function(
                    "[...window.dashboard.symbols.values()].filter(e => e.ready).length === 10", timeout=60_000
                )
                py = PyClient(f"ws://127.0.0.1:{port}/api/v1/ws")
                t = pd.Timestamp("2024-01-02 21:00:00", tz="UTC")
                committed: dict[int, float] = {}
                nxt = time.time()
                for i in range(a.seconds):
                    nxt += 1.0
                    rows = store.append_events(_slice(t, i, predictions=False))
                    now = time.time()
                    committed.update({int(r.id): now for r in rows if r.type == "bar"})  # type: ignore[arg-type]
                    t += timedelta(seconds=1)
                    time.sleep(max(0.0, nxt - time.time()))
                _caught_up(page, int(rows[-1].id), 60)  # type: ignore[arg-type]  # the last slice's portfolio event
                drawn = dict(page.evaluate("[...window.dashboard.drawn.entries()]"))
                time.sleep(0.5)
                page_ms = [drawn[i] - committed[i] * 1000 for i in committed if i in drawn]
                py_ms = [(py.seen[i] - committed[i]) * 1000 for i in committed if i in py.seen]
                offset, half_rtt = _clock_offset(page)
                n = len(committed)
                shown = page.evaluate("[...window.dashboard.symbols.values()].filter(e => e.visible).length")
                print(f"# viewport 1366x{a.height}: {shown} of 10 charts on screen (only those are redrawn)")
                for q in (50, 99):
                    print(
                        f"commit->drawn p{q}, 10 symbols x 1/s: {_pct(page_ms, q):.1f} ms = "
                        f"{_pct(page_ms, q) / _pct(py_ms, q):.1f}x commit->Python WebSocket client p{q} "
                        f"({_pct(py_ms, q):.1f} ms)"
                    )
                print(
                    f"events drawn: {len(page_ms)} of {n} = {len(page_ms) / n:.2f}x the Python client's "
                    f"{len(py_ms)} of {n}"
                )
                print(
                    f"page clock - time.time(): {offset:+.2f} ms (+-{half_rtt:.2f} ms) = "
                    f"{abs(offset) / _pct(page_ms, 50):.3f}x commit->drawn p50"
                )
                if min(page_ms) < 0:
                    print(f"warning: a negative latency ({min(page_ms):.2f} ms): the clocks disagree")

                cdp = page.context.new_cdp_session(page)
                heaps, total, i0 = {}, a.minutes * 60, a.seconds
                marks = {60: "1 min", total: f"{a.minutes} min", 2 * total: f"{2 * a.minutes} min"}
                t_write = time.perf_counter()
                for i in range(1, 2 * total + 1):
                    rows = store.append_events(_slice(t, i0 + i, predictions=True))
                    t += timedelta(seconds=1)
                    if i in marks:
                        t_mark = time.perf_counter()
                        _caught_up(page, int(rows[-1].id))  # type: ignore[arg-type]
                        heaps[i] = _heap(cdp)
                        print(
                            f"# {marks[i]}: caught up in {time.perf_counter() - t_mark:.1f} s, "
                            f"{time.perf_counter() - t_write:.1f} s since the replay began",
                            flush=True,
                        )
                written = time.perf_counter() - t_write
                points = page.evaluate("document.getElementById('chart-S00').data[0].x.length")
                h1, h30, h60 = heaps[60], heaps[total], heaps[2 * total]
                print(
                    f"JS heap after {a.minutes} min of 10-symbol 1 s bars: {h30:.1f} MiB = {h30 / h1:.2f}x "
                    f"after the first minute ({h1:.1f} MiB)"
                )
                print(
                    f"JS heap after {2 * a.minutes} min: {h60:.1f} MiB = {h60 / h30:.2f}x after {a.minutes} min "
                    f"({h30:.1f} MiB)"
                )
                print(
                    f"points per candle chart at the end: {points} = {points / (2 * total + 390 + i0):.3f}x "
                    f"the bars received ({2 * total + 390 + i0})"
                )
                print(
                    f"replay written and drawn: {2 * total * 21 / written:.0f} events/s = "
                    f"{2 * total / written:.1f}x real time (1 slice/s)"
                )
                if errors:
                    print(f"warning: {len(errors)} console error(s): {errors[:3]}")
                py.stop.set()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
