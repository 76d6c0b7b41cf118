// tradingmodel dashboard: login, the first load over REST, then the event WebSocket for live updates.
// Loaded after core.js, symbols.js and panels.js.
"use strict";

async function login(key) {
  TM.key = key;
  try {
    const status = await api("/api/v1/model/status");
    sessionStorage.setItem(KEY_ITEM, key);
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
    $("login-error").textContent = "";
    await start(status);
  } catch (e) {
    sessionStorage.removeItem(KEY_ITEM);
    TM.key = null;
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
  TM.session = pf.session;
  renderPortfolio(pf);
  refresh("runs");
  const names = new Set([...(pf.session ? pf.session.symbols : []), ...Object.keys(status.active)]);
  for (const s of names) await addSymbol(s);
  // A session's history (equity, fills, predictions) comes from its events: replay them from the start,
  // keeping only this session's, then go on live. Without a session: from now on.
  if (pf.session) { TM.lastId = 0; TM.replayFirst = true; }
  connect();
}

function setConn(text, cls) { const c = $("conn"); c.textContent = text; c.className = "conn " + cls; }

function logEvent(ev) {
  const li = document.createElement("li");
  li.dataset.id = ev.id;
  li.textContent = `#${ev.id} ${ev.type} ${ev.symbol || ""} ${ev.bar_time || ""}`;
  const log = $("event-log");
  log.prepend(li);
  while (log.children.length > MAX_LOG) log.lastChild.remove();
}

const HANDLERS = {
  bar: (ev) => { eqBar(ev); onBar(ev); },
  prediction: onPrediction,
  signal: onSignal,
  order: (ev) => { onOrder(ev); if (ev.id > TM.replayUpto) refresh("portfolio"); },
  fill: (ev) => { onFill(ev); if (ev.id > TM.replayUpto) refresh("portfolio"); },
  portfolio: (ev) => { onPortfolio(ev); if (ev.id > TM.replayUpto) refresh("portfolio"); },
  risk: () => refresh("portfolio"),
  job: () => refresh("models"),
  session: () => { refresh("portfolio"); refresh("runs"); },
};

function onEvent(ev) {
  TM.lastId = ev.id;
  // the replayed past (ids up to the greeting's): only the current session's events
  if (ev.id <= TM.replayUpto && (!TM.session || ev.run_id !== TM.session.id)) return;
  logEvent(ev);
  const h = HANDLERS[ev.type];
  if (h) h(ev);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const since = TM.lastId === null ? "" : `?since=${TM.lastId}`;
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/ws${since}`);
  TM.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", key: TM.key }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "hello") {
      if (TM.lastId === null) TM.lastId = msg.id;
      if (TM.replayFirst) { TM.replayUpto = msg.id; TM.replayFirst = false; }
      TM.retry = 0;
      ws.send(JSON.stringify({ type: "subscribe", channels: [], symbols: [] }));
      setConn("live", "live");
      if (since) { refresh("portfolio"); refresh("models"); }
    } else if (msg.type === "heartbeat") {
      if (typeof msg.id === "number" && msg.id > TM.lastId) TM.lastId = msg.id;
    } else if (msg.type === "error") console.warn("server:", msg.data.message);
    else onEvent(msg);
  };
  ws.onclose = (c) => {
    if (c.code === 1008) { setConn("key refused", "reconnecting"); return; }
    setConn("reconnecting…", "reconnecting");
    const wait = Math.min(5000, 250 * 2 ** TM.retry++);
    setTimeout(connect, wait);
  };
}

if (TM.key) { $("key").value = ""; login(TM.key); }
