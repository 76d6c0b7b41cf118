// Per symbol: candles with RSI14 and volume beneath, the predicted next close, entry/exit marks from fills
// (with their order's purpose), the last signal and why it was or was not taken.
"use strict";
const LAYOUT = { margin: { l: 50, r: 10, t: 10, b: 30 }, showlegend: true, dragmode: "pan",
  legend: { orientation: "h", y: 1.06, x: 0 },
  xaxis: { rangeslider: { visible: false }, anchor: "y3", type: "date" }, yaxis: { domain: [0.42, 1], title: "price" },
  yaxis2: { domain: [0.2, 0.38], range: [0, 100], title: "RSI" }, yaxis3: { domain: [0, 0.16], title: "vol" } };
const CONFIG = { responsive: true, displaylogo: false };
const T_CANDLE = 0, T_RSI = 1, T_VOL = 2, T_PRED = 3, T_ENTRY = 4, T_EXIT = 5;
const BAR_MS = 60_000; // a prediction made after bar t is for the close of the bar at t + 1 minute

// Wilder's RSI14, continued in the page for live bars (the REST bars come with the server's).
function rsiStep(r, close) {
  if (r.prev !== null) {
    const ch = close - r.prev, g = Math.max(ch, 0), l = Math.max(-ch, 0);
    if (r.n < 14) { r.g += g / 14; r.l += l / 14; r.n++; } else { r.g = (r.g * 13 + g) / 14; r.l = (r.l * 13 + l) / 14; }
  }
  r.prev = close;
  if (r.n < 14) return null;
  return r.l === 0 ? 100 : 100 - 100 / (1 + r.g / r.l);
}

function symbolBox(symbol) {
  const box = document.createElement("div");
  box.className = "symbol"; box.dataset.symbol = symbol;
  const h = document.createElement("h3"); h.textContent = symbol;
  const info = document.createElement("dl"); info.className = "symbol-info";
  const item = (k, cls) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.className = cls; dd.textContent = "—";
    info.append(dt, dd); return dd;
  };
  const pred = item("predicted next close", "prediction"), last = item("last signal", "last-signal");
  const chart = document.createElement("div"); chart.className = "chart"; chart.id = "chart-" + symbol;
  box.append(h, info, chart);
  return { box, chart, pred, last };
}

async function addSymbol(symbol) {
  symbol = symbol.toUpperCase();
  if (!symbol || TM.symbols.has(symbol)) return;
  const ui = symbolBox(symbol);
  $("symbol-list").appendChild(ui.box);
  const e = { ...ui, layout: { ...structuredClone(LAYOUT), uirevision: symbol }, x: new Set(), rsi: { prev: null, g: 0, l: 0, n: 0 }, q: { bars: [], pred: [], entry: [], exit: [] }, staleIds: [] };
  e.flush = () => flushSymbol(e);
  TM.symbols.set(symbol, e);
  let page;
  try { page = await api(`/api/v1/market-data/${encodeURIComponent(symbol)}?limit=10000`); }
  catch (err) { e.last.textContent = `${symbol}: ${err.message}`; e.last.className = "error"; return; }
  const bars = page.bars.slice(-MAX_POINTS);
  const col = (f) => bars.map(f);
  const x = col((b) => tkey(b.timestamp));
  bars.forEach((b) => { e.x.add(Date.parse(b.timestamp)); rsiStep(e.rsi, b.close); });
  const marks = (name, symbolName, color) => ({ type: "scatter", mode: "markers", name, x: [], y: [], text: [],
    hoverinfo: "x+y+text", yaxis: "y", marker: { symbol: symbolName, size: 11, color } });
  await Plotly.newPlot(e.chart, [
    { type: "candlestick", name: symbol, x, open: col((b) => b.open), high: col((b) => b.high),
      low: col((b) => b.low), close: col((b) => b.close), yaxis: "y", showlegend: false },
    { type: "scatter", mode: "lines", name: "RSI14", x: x.slice(), y: col((b) => b.indicators.rsi14), yaxis: "y2", showlegend: false },
    { type: "scatter", mode: "lines", line: { shape: "hv", width: 1 }, fill: "tozeroy", name: "volume", x: x.slice(),
      y: col((b) => b.volume), yaxis: "y3", showlegend: false },  // a filled step line: far cheaper than bars
    marks("predicted next close", "x", "#7c3aed"),
    marks("entry", "triangle-up", "#15803d"),
    marks("exit", "triangle-down", "#b91c1c"),
  ], e.layout, CONFIG);
  e.ready = true;
  VISIBLE.observe(e.chart);
}

// Only charts on screen are redrawn; one scrolled into view is redrawn with what it missed.
const VISIBLE = new IntersectionObserver((entries) => {
  for (const en of entries) {
    const e = TM.symbols.get(en.target.id.slice("chart-".length));
    if (!e) continue;
    e.visible = en.isIntersecting;
    if (e.visible && e.stale) schedule(e.flush, e.staleIds.splice(0));
  }
});

$("symbol-form").addEventListener("submit", (ev) => {
  ev.preventDefault(); addSymbol($("symbol").value.trim()); $("symbol").value = "";
});

// One redraw per chart per frame: the queued points are appended to the traces' arrays (the oldest beyond
// MAX_POINTS dropped) and Plotly.react redraws the chart once.
function push(trace, cols) {
  for (const [k, v] of Object.entries(cols)) { trace[k].push(...v); keep(trace[k]); }
}

function flushSymbol(e) {
  const q = e.q, d = e.chart.data;
  if (q.bars.length) {
    const b = q.bars.splice(0), xs = b.map((p) => p.t);
    push(d[T_CANDLE], { x: xs, open: b.map((p) => p.open), high: b.map((p) => p.high), low: b.map((p) => p.low),
      close: b.map((p) => p.close) });
    push(d[T_RSI], { x: xs, y: b.map((p) => p.rsi) });
    push(d[T_VOL], { x: xs, y: b.map((p) => p.volume) });
  }
  for (const [name, trace] of [["pred", T_PRED], ["entry", T_ENTRY], ["exit", T_EXIT]]) {
    if (!q[name].length) continue;
    const m = q[name].splice(0);
    push(d[trace], { x: m.map((p) => p.t), y: m.map((p) => p.y), text: m.map((p) => p.text) });
  }
  if (e.visible === false) { e.stale = true; return false; }
  e.stale = false;
  e.layout.datarevision = (e.layout.datarevision || 0) + 1;
  Plotly.react(e.chart, d, e.layout, CONFIG);
  return true;
}

// Queue a redraw of symbol e for event id: recorded as drawn when its chart is redrawn (on screen).
function redraw(e, id) {
  if (e.visible === false) { e.stale = true; e.staleIds.push(id); keep(e.staleIds, MAX_DRAWN); }
  schedule(e.flush, e.visible === false ? [] : [id]);  // one closure per chart: one redraw per draw
}

function symbolOf(ev) { const e = TM.symbols.get(ev.symbol); return e && e.ready ? e : null; }

function onBar(ev) {
  const e = symbolOf(ev), d = ev.data || {};
  if (!e || (d.status && d.status !== "applied")) return; // late/duplicate/out-of-order bars are not traded
  const t = d.timestamp || ev.bar_time, ms = Date.parse(t);
  if (e.x.has(ms)) return; // already drawn (a reload or a stored bar the session also logged)
  e.x.add(ms);
  if (e.x.size > MAX_POINTS * 2) e.x = new Set([...e.x].slice(-MAX_POINTS));
  const rsi = d.indicators ? d.indicators.rsi14 : (d.rsi14 ?? rsiStep(e.rsi, d.close));
  e.q.bars.push({ t: tkey(ms), open: d.open, high: d.high, low: d.low, close: d.close, volume: d.volume, rsi });
  redraw(e, ev.id);
}

function onPrediction(ev) {
  const e = symbolOf(ev), d = ev.data || {};
  if (!e || d.predicted_close === undefined || d.predicted_close === null) return;
  const t = Date.parse(ev.bar_time) + BAR_MS;
  const conf = d.confidence !== undefined && d.confidence !== null ? ` (confidence ${fmt(d.confidence, 2)})` : "";
  e.pred.textContent = `${fmt(d.predicted_close)} for ${tkey(t).slice(11, 16)} UTC${conf}`;
  e.q.pred.push({ t: tkey(t), y: d.predicted_close, text: `predicted after ${tkey(ev.bar_time).slice(11, 16)}${conf}` });
  redraw(e, ev.id);
}

function onOrder(ev) {
  const d = ev.data || {};
  if (d.client_order_id && d.purpose) TM.purposes.set(d.client_order_id, d.purpose);
  while (TM.purposes.size > 5000) TM.purposes.delete(TM.purposes.keys().next().value);
}

// Entry or exit: the order's purpose (from its order event); without one, the position after the fill.
function fillKind(d) {
  const purpose = TM.purposes.get(d.client_order_id) || d.purpose || null;
  if (purpose) return [purpose === "entry" ? "entry" : "exit", purpose];
  const after = Number(d.position_after);
  return [Number.isFinite(after) && after === 0 ? "exit" : "entry", null];
}

function onFill(ev) {
  const e = symbolOf(ev), d = ev.data || {};
  if (!e || d.price === undefined || d.price === null) return;
  const [kind, purpose] = fillKind(d);
  const qty = d.quantity !== undefined ? ` ${fmt(d.quantity, 0)}` : "";
  const text = `${d.side || ""}${qty} @ ${fmt(d.price)}${purpose ? " (" + purpose + ")" : ""}`;
  e.q[kind].push({ t: tkey(ev.bar_time || ev.time), y: d.price, text });
  redraw(e, ev.id);
}

const RULES = { long: ["threshold_long", "rsi_long", "volume"], short: ["threshold_short", "rsi_short", "volume"] };
function ruleText(rules, side) {
  return RULES[side].map((r) => `${r.replace("_" + side, "")} ${rules[r] ? "✓" : "✗"}`).join(", ");
}

// Why a signal was or was not taken: the decision, the risk manager's rejection, or the rules that failed.
function signalText(d) {
  if (d.reason && !d.rules) return `${d.decision || "?"} — ${d.reason}`;
  const sig = d.signal || "none", decision = d.decision || "none", rules = d.rules || {};
  if (decision === "rejected") return `${sig}: rejected (${d.rejection || "risk limit"})`;
  if (sig === "none") {
    const why = `no entry rule set passed — long: ${ruleText(rules, "long")}; short: ${ruleText(rules, "short")}`;
    return decision === "none" ? why : `${decision}; ${why}`;
  }
  return `${sig} → ${decision}${decision === "hold" ? " (already in a position)" : ""} (${ruleText(rules, sig)})`;
}

function onSignal(ev) {
  const e = TM.symbols.get(ev.symbol);
  if (!e) return;
  const at = ev.bar_time ? ` after ${tkey(ev.bar_time).slice(11, 16)}` : "";
  e.last.textContent = signalText(ev.data || {}) + at;
  TM.drawn.set(ev.id, performance.timeOrigin + performance.now());
}
