"""The report opens in headless Chromium: no console errors, no network, every chart drawn and non-blank.

Chromium is driven over the DevTools protocol (``--remote-debugging-port=0`` + ``websockets``): console
calls, uncaught exceptions, log entries and network requests are recorded, then each chart is captured
with ``Page.captureScreenshot`` clipped to its ``<div>`` and the PNG decoded here (zlib + numpy). To tell
"drawn" from "axes only", the plotting area is captured again with the axes frozen and the traces
hidden: the share of pixels that change is the traces' own ink.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import require

pytestmark = pytest.mark.browser
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
RENDERED_JS = """Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
  id: d.id, ready: !!(d._fullLayout && d.querySelector('.main-svg')),
  traces: d.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
  drawn: Array.from(d.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .trace path.point,'
    + ' .barlayer .trace path')).filter(p => (p.getAttribute('d') || '').length > 3).length,
  axes: Object.fromEntries(Object.keys(d._fullLayout || {}).filter(k => /^[xy]axis[0-9]*$/.test(k))
    .map(k => [k, (d._fullLayout[k].title || {}).text || ''])),
  xticks: Array.from(d.querySelectorAll('.xaxislayer-above text')).map(t => t.textContent),
  first_x: d.data && d.data.length && d.data[0].x ? String(d.data[0].x[0]) : null,
  names: (d.data || []).map(t => t.name || ''),
  x: Math.round(d.getBoundingClientRect().left + window.scrollX),
  y: Math.round(d.getBoundingClientRect().top + window.scrollY),
  w: Math.round(d.getBoundingClientRect().width), h: Math.round(d.getBoundingClientRect().height)}))"""
# Freeze every axis at its current range (so hiding traces cannot rescale them), then measure the plotting area.
FREEZE_JS = """(async (id) => {
  const gd = document.getElementById(id), upd = {};
  for (const k of Object.keys(gd._fullLayout)) {
    if (/^[xy]axis[0-9]*$/.test(k)) {
      upd[k + '.range'] = gd._fullLayout[k].range.slice();
      upd[k + '.autorange'] = false;
    }
  }
  await Plotly.relayout(gd, upd);
  return true;
})"""
HIDE_JS = "(async (id) => { await Plotly.restyle(document.getElementById(id), {visible: false}); return true; })"
AREA_JS = """((id) => {
  const gd = document.getElementById(id), r = gd.getBoundingClientRect(), s = gd._fullLayout._size;
  return [r.left + window.scrollX + s.l, r.top + window.scrollY + s.t, s.w, s.h].map(Math.round);
})"""


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA non-interlaced PNG → (h, w, channels) uint8 array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int64)
    prev = np.zeros(w * bpp, np.int64)
    for r in range(h):
        f, line = raw[r, 0], raw[r, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) % 256
        elif f == 2:
            cur = (line + prev) % 256
        else:
            cur_l = [0] * (w * bpp)
            up = prev.tolist()
            vals = line.tolist()
            for i in range(w * bpp):
                a = cur_l[i - bpp] if i >= bpp else 0
                if f == 3:
                    cur_l[i] = (vals[i] + ((a + up[i]) >> 1)) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + up[i] - c
                    pa, pb, pc = abs(p - a), abs(p - up[i]), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (up[i] if pb <= pc else c)
                    cur_l[i] = (vals[i] + pred) & 255
            cur = np.array(cur_l, np.int64)
        out[r] = cur
        prev = cur
    return out.reshape(h, w, bpp).astype(np.uint8)


def ink(image: np.ndarray) -> float:
    """Share of pixels whose colour differs from the most common (background) colour."""
    rgb = image[..., :3].reshape(-1, 3).astype(np.int64)
    codes = rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    return 1.0 - counts.max() / codes.size


class DevTools:
    """A minimal DevTools-protocol client over one browser websocket (flat sessions)."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.ids, self.pending, self.events = ws, itertools.count(1), {}, []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.ws:
                msg = json.loads(message)
                if "id" in msg and msg["id"] in self.pending:
                    self.pending.pop(msg["id"]).set_result(msg)
                elif "method" in msg:
                    self.events.append(msg)
        except ConnectionClosed:  # the browser closed (Browser.close at the end)
            pass

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict:
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        msg = {"id": i, "method": method, "params": params} | ({"sessionId": session} if session else {})
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 60)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]


async def _inspect(ws_url: str, page: Path, wait_s: float) -> dict[str, Any]:
    import websockets

    async with websockets.connect(ws_url, max_size=None) as ws:
        cdp = DevTools(ws)
        target = (await cdp.call("Target.createTarget", url="about:blank"))["targetId"]
        s = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            await cdp.call(f"{domain}.enable", s)
        await cdp.call(
            "Emulation.setDeviceMetricsOverride", s, width=1400, height=1000, deviceScaleFactor=1, mobile=False
        )
        await cdp.call("Emulation.setScrollbarsHidden", s, hidden=True)  # no width change as the page grows
        await cdp.call("Page.navigate", s, url=page.resolve().as_uri())
        charts: list[dict] = []
        for _ in range(int(wait_s * 10)):  # until plotly has drawn everything
            await asyncio.sleep(0.1)
            loaded = any(e["method"] == "Page.loadEventFired" for e in cdp.events)
            if loaded:
                res = await cdp.call("Runtime.evaluate", s, expression=RENDERED_JS, returnByValue=True)
                charts = res["result"]["value"]
                if charts and all(c["ready"] for c in charts):
                    break
        shots, hidden = {}, {}
        for c in charts:
            shots[c["id"]] = await _shot(cdp, s, c["x"], c["y"], c["w"], c["h"])
        for c in charts:  # the plotting area with and without the traces, axes frozen
            if c["ready"]:
                pair = []
                for script in (FREEZE_JS, HIDE_JS):
                    await _js(cdp, s, f"{script}({json.dumps(c['id'])})")
                    area = await _js(cdp, s, f"{AREA_JS}({json.dumps(c['id'])})")
                    pair.append((area, await _shot(cdp, s, *area)))
                assert pair[0][0] == pair[1][0], f"{c['id']}: the chart moved while hiding its traces"
                hidden[c["id"]] = (pair[0][1], pair[1][1])
        await asyncio.sleep(0.2)  # late console messages
        await cdp.call("Browser.close")
        cdp.reader.cancel()
        return {"charts": charts, "shots": shots, "hidden": hidden, "events": list(cdp.events)}


async def _js(cdp: DevTools, session: str, expression: str) -> Any:
    res = await cdp.call("Runtime.evaluate", session, expression=expression, awaitPromise=True, returnByValue=True)
    assert "exceptionDetails" not in res, res["exceptionDetails"]
    return res["result"]["value"]


async def _shot(cdp: DevTools, session: str, x: int, y: int, w: int, h: int) -> bytes:
    clip = {"x": x, "y": y, "width": w, "height": h, "scale": 1}
    res = await cdp.call(
        "Page.captureScreenshot", session, format="png", clip=clip, captureBeyondViewport=True, optimizeForSpeed=True
    )
    return base64.b64decode(res["data"])


def trace_ink(pair: tuple[bytes, bytes]) -> float:
    """Share of the plotting area's pixels that change when the chart's traces are hidden."""
    with_traces, without = (decode_png(png)[:, :, :3] for png in pair)
    assert with_traces.shape == without.shape
    return float(np.any(with_traces != without, axis=2).mean())


def open_in_chromium(page: Path, wait_s: float = 30.0) -> dict[str, Any]:
    """Open ``page`` in a fresh headless Chromium; return its charts, screenshots and DevTools events."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            ["chromium", *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ws_url = None
            for line in proc.stderr:  # type: ignore[union-attr]
                if line.startswith("DevTools listening on "):
                    ws_url = line.split(" on ", 1)[1].strip()
                    break
            assert ws_url, "chromium did not start its DevTools endpoint"
            return asyncio.run(_inspect(ws_url, page, wait_s))
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def problems(events: list[dict]) -> list[str]:
    """Console errors/warnings, uncaught exceptions, error log entries and non-local requests."""
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            out.append(
                f"console.{p['type']}: "
                + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
            )
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(
                f"exception: {d.get('text', '')} {d.get('exception', {}).get('description', '')}"
                f" at {d.get('url', '?')}:{d.get('lineNumber', '?')}"
            )
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append("log: " + p["entry"].get("text", ""))
        elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith(LOCAL_SCHEMES):
            out.append("network request: " + p["request"]["url"])
    return out


def test_decode_png_round_trips_every_filter() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    rows = []
    for r, f in enumerate([0, 1, 2, 3, 4]):  # encode each row with a different filter
        line = img[r].reshape(-1).astype(np.int64)
        up = img[r - 1].reshape(-1).astype(np.int64) if r else np.zeros_like(line)
        left = np.r_[np.zeros(4, np.int64), line[:-4]]
        upleft = np.r_[np.zeros(4, np.int64), up[:-4]]
        if f == 0:
            enc = line
        elif f == 1:
            enc = line - left
        elif f == 2:
            enc = line - up
        elif f == 3:
            enc = line - (left + up) // 2
        else:
            p = left + up - upleft
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
            enc = line - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        rows.append(bytes([f]) + (enc % 256).astype(np.uint8).tobytes())
    body = zlib.compress(b"".join(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )
    assert np.array_equal(decode_png(png), img)
    assert ink(img) > 0.9 and ink(np.zeros((4, 4, 3), np.uint8)) == 0.0


def _first_new_york_time(run_dir: Path, chart_id: str) -> str:
    """The first time of a chart's first series (close or equity), as New York wall-clock ISO text."""
    import pandas as pd

    if chart_id == "chart-equity":
        ts = pd.read_parquet(run_dir / "equity.parquet")["timestamp"]
    else:
        bars = pd.read_parquet(run_dir / "bars.parquet")
        ts = bars.loc[bars["symbol"] == chart_id.removeprefix("chart-price-"), "timestamp"]
    first = ts.min().tz_convert("America/New_York").tz_localize(None)
    return first.isoformat()


@pytest.mark.slow
@pytest.mark.parametrize(("run", "symbols"), [("pipeline_run", ["AAA", "BBB"]), ("saved_run", ["AAPL", "MSFT"])])
def test_report_of_a_demo_run_opens_cleanly_in_chromium(
    run: str, symbols: list[str], request: pytest.FixtureRequest
) -> None:
    require(shutil.which("chromium") is not None, "chromium")
    saved_run: Path = request.getfixturevalue(run)
    result = open_in_chromium(saved_run / "report.html")
    assert problems(result["events"]) == []
    charts = result["charts"]
    assert [c["id"] for c in charts] == [f"chart-price-{s}" for s in symbols] + [
        "chart-equity",
        "chart-loss",
        "chart-returns",
        "chart-calibration",
    ]
    for c in charts:
        assert c["ready"] and c["traces"] >= 2 and c["drawn"] >= 2, c
        assert c["w"] > 600 and c["h"] > 300, c
        image = decode_png(result["shots"][c["id"]])
        assert image.shape[:2] == (c["h"], c["w"]) and ink(image) > 0.01, f"{c['id']}: blank screenshot"
        drawn = trace_ink(result["hidden"][c["id"]])
        assert drawn > 0.005, f"{c['id']}: the traces put ink on only {drawn:.2%} of the plotting area"
        if c["id"].startswith(("chart-price-", "chart-equity")):
            # New York time, the zone named on the axis, readable tick labels (times or dates, none empty)
            assert any("New York" in t for t in c["axes"].values()), c["axes"]
            assert c["first_x"] == _first_new_york_time(saved_run, c["id"]), c["first_x"]  # not UTC
            assert c["xticks"] and all(t.strip() for t in c["xticks"]), c["xticks"]
        if c["id"].startswith("chart-price-"):  # the predicted move has its own panel, thresholds drawn
            assert c["axes"]["yaxis2"].startswith("predicted move"), c["axes"]
            assert any(n.startswith("predicted move") for n in c["names"])
            assert any(n.startswith("buy threshold") for n in c["names"]), c["names"]
        if os.environ.get("REPORT_SHOTS"):  # keep the screenshots to look at
            Path(os.environ["REPORT_SHOTS"], f"{c['id']}.png").write_bytes(result["shots"][c["id"]])


@pytest.mark.slow
def test_the_check_catches_a_broken_page(saved_run: Path, tmp_path: Path) -> None:
    """The same inspection flags console errors, exceptions, network use, a missing and an empty chart."""
    require(shutil.which("chromium") is not None, "chromium")
    page = (saved_run / "report.html").read_text()
    broken = page.replace(
        "</body>",
        '<script>console.error("boom"); no_such_function();</script>'
        '<img src="https://example.invalid/pixel.png"></body>',
    )
    broken = broken.replace(
        'Plotly.newPlot(                        "chart-loss"', 'Plotly.newPlot(                        "chart-nowhere"'
    )
    start = broken.index('Plotly.newPlot(                        "chart-returns"')
    data_at = broken.index("[", start)
    end = broken.index(',                        {"template"', data_at)
    broken = broken[:data_at] + "[]" + broken[end:]  # the scatter keeps its axes but loses its data
    (tmp_path / "report.html").write_text(broken)
    result = open_in_chromium(tmp_path / "report.html", wait_s=15)  # the loss chart never gets ready
    found = "\n".join(problems(result["events"]))
    assert "console.error: boom" in found
    assert "ReferenceError: no_such_function is not defined" in found
    assert "No DOM element with id 'chart-nowhere'" in found
    assert "network request: https://example.invalid/pixel.png" in found
    loss = next(c for c in result["charts"] if c["id"] == "chart-loss")
    assert not loss["ready"] and loss["traces"] == 0
    scatter = next(c for c in result["charts"] if c["id"] == "chart-returns")
    assert scatter["ready"] and scatter["drawn"] == 0
    assert trace_ink(result["hidden"]["chart-returns"]) == 0.0
