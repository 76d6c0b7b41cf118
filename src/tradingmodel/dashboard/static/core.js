// tradingmodel dashboard, shared core: state, the REST helper, formatting, the per-frame draw queue.
// The key lives in sessionStorage only. Every chart keeps at most MAX_POINTS points (older ones dropped).
"use strict";
const PARAMS = new URLSearchParams(location.search);
const MAX_POINTS = Number(PARAMS.get("max_points")) || 2000;
const MAX_LOG = 100;
const MAX_DRAWN = 20000; // draw times kept for tests and the benchmark (oldest dropped)
const KEY_ITEM = "tradingmodel-api-key";
const $ = (id) => document.getElementById(id);
const TM = {
  key: sessionStorage.getItem(KEY_ITEM), symbols: new Map(), lastId: null, replayUpto: 0, ws: null, retry: 0,
  timers: {}, drawn: new Map(), session: null, deposit: null, purposes: new Map(), pending: new Set(),
};
window.dashboard = TM; // for tests and the benchmark: draw times, last id

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { "X-API-Key": TM.key, "Content-Type": "application/json",
    ...(opts.headers || {}) } });
  if (opts.raw) { if (!r.ok) throw Object.assign(new Error(r.statusText), { status: r.status }); return r; }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.detail || r.statusText); e.status = r.status; throw e; }
  return body;
}

function fmt(x, d = 2) { return x === null || x === undefined || Number.isNaN(x) ? "—" : Number(x).toFixed(d); }
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
function fill(tbody, rows, render) {
  tbody.replaceChildren(...rows.map((row) => { const tr = document.createElement("tr"); render(tr, row); return tr; }));
}
// Plotly-friendly UTC time ("2024-01-02 14:31:00"): one form for REST bars and events, whatever their offset.
function tkey(t) { return new Date(typeof t === "number" ? t : Date.parse(t)).toISOString().slice(0, 19).replace("T", " "); }
function keep(arr, n = MAX_POINTS) { if (arr.length > n) arr.splice(0, arr.length - n); return arr; }

// Draws are batched: handlers queue work, one animation frame draws it all. After a draw that took D ms the
// next one waits at least D ms, so a slow machine spends at most about half its time drawing and the
// events arriving meanwhile are all taken into the next draw (throughput does not collapse to one slice
// per frame). The draw time of each event id is the wall clock (performance.timeOrigin +
// performance.now(), the same clock as the server's time.time() on this host) after its chart was updated.
function schedule(fn, ids) {
  TM.pending.add(fn);
  if (ids) for (const id of ids) (TM.queuedIds ||= []).push(id);
  if (TM.frame) return;
  const wait = Math.max(0, (TM.drawEnd || 0) + (TM.drawCost || 0) - performance.now());
  TM.frame = setTimeout(() => requestAnimationFrame(drawNow), wait);
}

function drawNow() {
  const t0 = performance.now();
  const fns = [...TM.pending]; TM.pending.clear();
  const done = TM.queuedIds || []; TM.queuedIds = [];
  for (const f of fns) { try { f(); } catch (e) { console.warn("draw", e); } }
  const now = performance.now();
  TM.frame = null; TM.drawEnd = now; TM.drawCost = now - t0;
  for (const id of done) TM.drawn.set(id, performance.timeOrigin + now);
  while (TM.drawn.size > MAX_DRAWN) TM.drawn.delete(TM.drawn.keys().next().value);
}
