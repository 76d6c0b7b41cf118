// tradingmodel dashboard: REST routes for the state, the event WebSocket for live updates.
// The key lives in sessionStorage only; every chart keeps at most MAX_POINTS points (older ones dropped).
"use strict";
const MAX_POINTS = Number(new URLSearchParams(location.search).get("max_points")) || 2000;
const MAX_LOG = 100;
const KEY_ITEM = "tradingmodel-api-key";
const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem(KEY_ITEM), symbols: new Map(), lastId: null, ws: null,
  retry: 0, timers: {}, drawn: {} };

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { "X-API-Key": state.key, "Content-Type": "application/json",
    ...(opts.headers || {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.detail || r.statusText); e.status = r.status; throw e; }
  return body;
}

function fmt(x, d = 2) { return x === null || x === undefined ? "—" : Number(x).toFixed(d); }
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
function fill(tbody, rows, render) {
  tbody.replaceChildren(...rows.map((row) => { const tr = document.createElement("tr"); render(tr, row); return tr; }));
}

// ---- login ------------------------------------------------------------------------------------------
async function login(key) {
  state.key = key;
  try {
    const status = await api("/api/v1/model/status");
    sessionStorage.setItem(KEY_ITEM, key);
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
    $("login-error").textContent = "";
    await start(status);
  } catch (e) {
    sessionStorage.removeItem(KEY_ITEM);
    state.key = null;
    $("login-error").textContent = e.status === 401 || e.status === 403 ? "Key refused by the server."
      : "Could not log in: " + e.message;
    $("key").focus();
  }
}

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("key").value.trim()); });
$("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY_ITEM); location.reload(); });

async function start(status) {
  renderModels(status);
  const pf = await api("/api/v1/portfolio");
  renderPortfolio(pf);
  const names = new Set([...(pf.session ? pf.session.symbols : []), ...Object.keys(status.active)]);
  for (const s of names) await addSymbol(s);
  connect();
}

// ---- charts -----------------------------------------------------------------------------------------
const LAYOUT = { margin: { l: 50, r: 10, t: 10, b: 30 }, showlegend: false, dragmode: "pan",
  xaxis: { rangeslider: { visible: false }, anchor: "y3" }, yaxis: { domain: [0.42, 1], title: "price" },
  yaxis2: { domain: [0.2, 0.38], range: [0, 100], title: "RSI" }, yaxis3: { domain: [0, 0.16], title: "vol" } };

async function addSymbol(symbol) {
  symbol = symbol.toUpperCase();
  if (state.symbols.has(symbol)) return;
  const box = document.createElement("div");
  box.className = "symbol"; box.dataset.symbol = symbol;
  const h = document.createElement("h3"); h.textContent = symbol;
  const last = document.createElement("p"); last.className = "last-signal"; last.textContent = "last signal: —";
  const chart = document.createElement("div"); chart.className = "chart"; chart.id = "chart-" + symbol;
  box.append(h, last, chart);
  $("symbol-list").appendChild(box);
  const entry = { chart, last, x: new Set() };
  state.symbols.set(symbol, entry);
  let page;
  try { page = await api(`/api/v1/market-data/${encodeURIComponent(symbol)}?limit=10000`); }
  catch (e) { last.textContent = `${symbol}: ${e.message}`; last.className = "error"; return; }
  const bars = page.bars.slice(-MAX_POINTS);
  const col = (f) => bars.map(f);
  const x = col((b) => b.timestamp);
  x.forEach((t) => entry.x.add(Date.parse(t)));
  await Plotly.newPlot(chart, [
    { type: "candlestick", name: symbol, x, open: col((b) => b.open), high: col((b) => b.high),
      low: col((b) => b.low), close: col((b) => b.close), yaxis: "y" },
    { type: "scatter", mode: "lines", name: "RSI14", x, y: col((b) => b.indicators.rsi14), yaxis: "y2" },
    { type: "bar", name: "volume", x, y: col((b) => b.volume), yaxis: "y3" },
    { type: "scatter", mode: "markers", name: "predicted", x: [], y: [], yaxis: "y", marker: { symbol: "x" } },
    { type: "scatter", mode: "markers", name: "fills", x: [], y: [], yaxis: "y", marker: { size: 10 } },
  ], LAYOUT, { responsive: true, displaylogo: false });
  entry.ready = true;
}

$("symbol-form").addEventListener("submit", (ev) => {
  ev.preventDefault(); addSymbol($("symbol").value.trim()); $("symbol").value = "";
});

function rsiPoint(data) { return data.indicators ? data.indicators.rsi14 : (data.rsi14 ?? null); }

function onBar(ev) {
  const e = state.symbols.get(ev.symbol);
  if (!e || !e.ready) return;
  const d = ev.data, t = d.timestamp || ev.bar_time;
  const ms = Date.parse(t);
  if (e.x.has(ms)) return;  // already drawn (resume after a drop sends nothing twice, a reload might)
  e.x.add(ms);
  if (e.x.size > MAX_POINTS * 2) e.x = new Set([...e.x].slice(-MAX_POINTS));
  Plotly.extendTraces(e.chart, { x: [[t]], open: [[d.open]], high: [[d.high]], low: [[d.low]], close: [[d.close]] },
    [0], MAX_POINTS);
  Plotly.extendTraces(e.chart, { x: [[t], [t]], y: [[rsiPoint(d)], [d.volume]] }, [1, 2], MAX_POINTS);
  state.drawn[ev.id] = Date.now();  // wall clock: comparable with the commit time
}

function onMark(ev, trace, price) {
  const e = state.symbols.get(ev.symbol);
  if (!e || !e.ready || price === undefined || price === null) return;
  Plotly.extendTraces(e.chart, { x: [[ev.bar_time]], y: [[price]] }, [trace], MAX_POINTS);
}

// ---- panels -----------------------------------------------------------------------------------------
function renderPortfolio(pf) {
  const figs = [["equity", pf.equity], ["cash", pf.cash], ["deposit", pf.deposit],
    ["realised PnL", pf.realized_pnl], ["unrealised PnL", pf.unrealized_pnl],
    ["open orders", String(pf.open_orders.length)], ["session", pf.session ? `${pf.session.kind} ${pf.session.status}` : "none"]];
  $("pf-figures").replaceChildren(...figs.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = typeof v === "number" ? fmt(v) : v;
    return [dt, dd];
  }));
  const r = pf.risk || {};
  $("risk-state").textContent = r.state ? `${r.state}${r.reason ? " (" + r.reason + ")" : ""}` : "trading";
  fill($("positions").tBodies[0], pf.positions, (tr, p) => {
    [p.symbol, fmt(p.quantity, 0), fmt(p.avg_price), fmt(p.last_price), fmt(p.unrealized_pnl)].forEach((v) => cell(tr, v));
  });
}

function metricText(m) {
  const keys = ["direction_accuracy", "rmse", "persistence_rmse", "ar_rmse"];
  return keys.filter((k) => k in m).map((k) => `${k} ${fmt(m[k], 3)}`).join(", ") || JSON.stringify(m).slice(0, 120);
}

function renderModels(st) {
  fill($("model-table").tBodies[0], st.models, (tr, m) => {
    [m.id, m.name, m.symbols.join(","), metricText(m.metrics)].forEach((v) => cell(tr, v));
  });
  fill($("job-table").tBodies[0], st.jobs, (tr, j) => {
    tr.dataset.job = j.id;
    [j.id, j.status, j.symbols.join(",")].forEach((v) => cell(tr, v));
    const td = cell(tr, "");
    const p = j.progress || {};
    if (p.epoch !== undefined) {
      const bar = document.createElement("progress");
      bar.max = p.num_epochs || (j.params && j.params.num_epochs) || 1; bar.value = p.epoch;
      bar.setAttribute("aria-label", `job ${j.id} progress`);
      td.append(bar, ` epoch ${p.epoch}`);
    }
    const act = cell(tr, "");
    if (j.status === "queued" || j.status === "running") {
      const b = document.createElement("button"); b.type = "button"; b.textContent = "Cancel";
      b.setAttribute("aria-label", `Cancel job ${j.id}`);
      b.addEventListener("click", async () => {
        try { await api(`/api/v1/model/jobs/${j.id}`, { method: "DELETE" }); } catch (e) { $("train-msg").textContent = e.message; }
        refresh("models");
      });
      act.appendChild(b);
    }
  });
}

$("train-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const symbols = $("train-symbols").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const r = await api("/api/v1/model/train", { method: "POST",
      body: JSON.stringify({ symbols, params: { num_epochs: Number($("train-epochs").value) } }) });
    $("train-msg").textContent = `job ${r.job_id} ${r.status}`;
  } catch (e) { $("train-msg").textContent = "refused: " + e.message; }
  refresh("models");
});

// Coalesce refreshes: at most one request per panel per 250 ms.
function refresh(what) {
  if (state.timers[what]) return;
  state.timers[what] = setTimeout(async () => {
    state.timers[what] = null;
    try {
      if (what === "models") renderModels(await api("/api/v1/model/status"));
      else renderPortfolio(await api("/api/v1/portfolio"));
    } catch (e) { console.warn(what, e.message); }
  }, 250);
}

// ---- live events ------------------------------------------------------------------------------------
function setConn(text, cls) { const c = $("conn"); c.textContent = text; c.className = "conn " + cls; }

function logEvent(ev) {
  const li = document.createElement("li");
  li.dataset.id = ev.id;
  li.textContent = `#${ev.id} ${ev.type} ${ev.symbol || ""} ${ev.bar_time || ""}`;
  const log = $("event-log");
  log.prepend(li);
  while (log.children.length > MAX_LOG) log.lastChild.remove();
}

function onEvent(ev) {
  state.lastId = ev.id;
  logEvent(ev);
  const d = ev.data || {};
  if (ev.type === "bar") onBar(ev);
  else if (ev.type === "prediction") onMark(ev, 3, d.predicted_close);
  else if (ev.type === "fill") { onMark(ev, 4, d.price); refresh("portfolio"); }
  else if (ev.type === "signal") {
    const e = state.symbols.get(ev.symbol);
    if (e) e.last.textContent = `last signal: ${d.decision || "?"} — ${d.reason || ""}`;
  } else if (ev.type === "portfolio" || ev.type === "risk" || ev.type === "order") refresh("portfolio");
  else if (ev.type === "job") refresh("models");
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const since = state.lastId === null ? "" : `?since=${state.lastId}`;
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/ws${since}`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", key: state.key }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "hello") {
      if (state.lastId === null) state.lastId = msg.id;
      state.retry = 0;
      ws.send(JSON.stringify({ type: "subscribe", channels: [], symbols: [] }));
      setConn("live", "live");
      if (since) { refresh("portfolio"); refresh("models"); }
    } else if (msg.type === "heartbeat") {
      /* idle */
    } else if (msg.type === "error") console.warn("server:", msg.data.message);
    else onEvent(msg);
  };
  ws.onclose = (c) => {
    if (c.code === 1008) { setConn("key refused", "reconnecting"); return; }
    setConn("reconnecting…", "reconnecting");
    const wait = Math.min(5000, 250 * 2 ** state.retry++);
    setTimeout(connect, wait);
  };
}

window.dashboard = state;  // for tests and the benchmark: drawn times, last id
if (state.key) { $("key").value = ""; login(state.key); }
