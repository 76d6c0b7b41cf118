// Panels: portfolio (figures, equity beside buy-and-hold, drawdown, positions, open orders, risk), models
// beside their baselines, training jobs and the form, past runs opening their report.html.
"use strict";
const EQ = { x: [], equity: [], bh: [], dd: [], peak: null, first: new Map(), lastClose: new Map(), drawn: false };

function figures(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = typeof v === "number" ? fmt(v) : v;
    return [dt, dd];
  }));
}

// "trading" / "halted for the day" / "halted" with the reason (the risk event's figures, or a given reason).
function riskText(r) {
  const status = r.status || r.state;
  if (!status) return "trading (no risk event yet)";
  const reason = r.reason || (status === "halted_for_the_day" ? `daily loss limit: ${fmt(r.day_loss_pct)} % today`
    : status === "halted" ? `drawdown limit: ${fmt(r.drawdown_pct)} % below the peak ${fmt(r.peak_equity)}`
    : r.drawdown_pct !== undefined ? `drawdown ${fmt(r.drawdown_pct)} %, day loss ${fmt(r.day_loss_pct)} %` : "");
  return `${status.replaceAll("_", " ")}${reason ? " — " + reason : ""}`;
}

function renderPortfolio(pf) {
  TM.deposit = pf.deposit;
  figures($("pf-figures"), [["equity", pf.equity], ["cash", pf.cash], ["deposit", pf.deposit],
    ["realised PnL", pf.realized_pnl], ["unrealised PnL", pf.unrealized_pnl],
    ["session", pf.session ? `${pf.session.name || "#" + pf.session.id} (${pf.session.kind}, ${pf.session.status})` : "none"]]);
  const risk = $("risk-state");
  risk.textContent = riskText(pf.risk || {});
  risk.className = (pf.risk && (pf.risk.status || pf.risk.state) || "trading").startsWith("halted") ? "error" : "";
  fill($("positions").tBodies[0], pf.positions, (tr, p) => {
    [p.symbol, fmt(p.quantity, 0), fmt(p.avg_price), fmt(p.last_price), fmt(p.unrealized_pnl)].forEach((v) => cell(tr, v));
  });
  fill($("orders").tBodies[0], pf.open_orders, (tr, o) => {
    tr.dataset.order = o.client_order_id;
    const price = o.order_type === "market" ? "market" : `${o.order_type} ${fmt(o.limit_price ?? o.stop_price)}`;
    [o.symbol, o.side, fmt(o.quantity, 0), price, o.reason || "—", o.status].forEach((v) => cell(tr, v));
  });
  $("orders").querySelector("caption").textContent = `Open orders (${pf.open_orders.length})`;
}

// ---- equity beside buy-and-hold, drawdown ------------------------------------------------------------
// Buy-and-hold: the deposit split equally over the session's symbols, each bought at its first close of the
// session (cash until that symbol's first bar), marked at its last close.
function eqBar(ev) {
  if (!TM.session || ev.run_id !== TM.session.id || !ev.symbol) return;
  const d = ev.data || {};
  if ((d.status && d.status !== "applied") || typeof d.close !== "number") return;
  if (!EQ.first.has(ev.symbol)) EQ.first.set(ev.symbol, d.close);
  EQ.lastClose.set(ev.symbol, d.close);
}

function buyAndHold() {
  const syms = TM.session.symbols.length ? TM.session.symbols : [...EQ.first.keys()];
  const share = TM.deposit / Math.max(1, syms.length);
  return syms.reduce((v, s) => v + (EQ.first.has(s) ? share * EQ.lastClose.get(s) / EQ.first.get(s) : share), 0);
}

function onPortfolio(ev) {
  const d = ev.data || {};
  if (!TM.session || ev.run_id !== TM.session.id || typeof d.equity !== "number" || TM.deposit === null) return;
  const t = tkey(ev.bar_time || ev.time);
  if (EQ.x.length && EQ.x[EQ.x.length - 1] === t) { EQ.x.pop(); EQ.equity.pop(); EQ.bh.pop(); EQ.dd.pop(); }
  EQ.peak = Math.max(EQ.peak ?? TM.deposit, d.equity);
  EQ.x.push(t); EQ.equity.push(d.equity); EQ.bh.push(buyAndHold()); EQ.dd.push(100 * (d.equity / EQ.peak - 1));
  for (const a of [EQ.x, EQ.equity, EQ.bh, EQ.dd]) keep(a);
  schedule(drawEquity, [ev.id]);
}

function drawEquity() {
  $("equity-chart").hidden = false;
  const x = EQ.x.slice();
  Plotly.react($("equity-chart"), [
    { type: "scatter", mode: "lines", name: "equity", x, y: EQ.equity.slice(), line: { color: "#2563eb" } },
    { type: "scatter", mode: "lines", name: "buy and hold", x, y: EQ.bh.slice(), line: { color: "#6b7280", dash: "dot" } },
    { type: "scatter", mode: "lines", name: "drawdown %", x, y: EQ.dd.slice(), yaxis: "y2", fill: "tozeroy",
      line: { color: "#b91c1c" } },
  ], { margin: { l: 55, r: 10, t: 10, b: 30 }, legend: { orientation: "h", y: 1.12, x: 0 },
    xaxis: { type: "date", anchor: "y2" }, yaxis: { domain: [0.38, 1], title: "equity" },
    yaxis2: { domain: [0, 0.3], title: "drawdown %" } }, { responsive: true, displaylogo: false });
  EQ.drawn = true;
}

// ---- models, jobs, training ---------------------------------------------------------------------------
function pctCI(m) {
  if (!m || m.direction_accuracy === undefined) return "—";
  const ci = m.direction_accuracy_ci;
  return `${fmt(m.direction_accuracy, 1)} %` + (ci && ci[0] !== null ? ` [${fmt(ci[0], 1)}–${fmt(ci[1], 1)}]` : "");
}

function renderModels(st) {
  const activeFor = (id) => Object.entries(st.active).filter(([, m]) => m === id).map(([s]) => s);
  fill($("model-table").tBodies[0], st.models, (tr, m) => {
    tr.dataset.model = m.id;
    const mt = m.metrics || {}, act = activeFor(m.id);
    [m.id, m.name, m.symbols.join(","), act.length ? act.join(",") : "—", pctCI(mt), pctCI(mt.baseline), pctCI(mt.ar_baseline),
      `${fmt(mt.mae, 4)} / ${fmt(mt.baseline?.mae, 4)} / ${fmt(mt.ar_baseline?.mae, 4)}`,
      mt.bars_scored !== undefined ? `${mt.bars_scored} (${mt.split || "?"})` : "—"].forEach((v) => cell(tr, v));
    if (act.length) tr.className = "active";
  });
  fill($("job-table").tBodies[0], st.jobs, (tr, j) => {
    tr.dataset.job = j.id;
    [j.id, j.status, j.symbols.join(",")].forEach((v) => cell(tr, v));
    const td = cell(tr, ""), p = j.progress || {};
    const total = p.epochs || (j.params && j.params.model && j.params.model.num_epochs) || null;
    if (p.epoch !== undefined) {
      const bar = document.createElement("progress");
      bar.max = total || p.epoch; bar.value = p.epoch;
      bar.setAttribute("aria-label", `job ${j.id} progress`);
      td.append(bar, ` epoch ${p.epoch}${total ? "/" + total : ""}, val loss ${fmt(p.val_loss, 5)}`);
    } else if (j.status === "queued" || j.status === "running") td.textContent = "starting…";
    if (j.error) td.append(` ${j.error}`);
    if (j.model_id) td.append(` → model ${j.model_id}`);
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
  let params;
  try { params = JSON.parse($("train-params").value.trim() || "{}"); }
  catch (e) { $("train-msg").textContent = "refused: parameters are not JSON: " + e.message; return; }
  params = { ...params, num_epochs: Number($("train-epochs").value) };
  const body = { symbols, params };
  for (const k of ["start", "end"]) if ($("train-" + k).value.trim()) body[k] = $("train-" + k).value.trim();
  try {
    const r = await api("/api/v1/model/train", { method: "POST", body: JSON.stringify(body) });
    $("train-msg").textContent = `job ${r.job_id} ${r.status}`;
  } catch (e) { $("train-msg").textContent = "refused: " + e.message; }
  refresh("models");
});

// ---- past runs ------------------------------------------------------------------------------------------
const RUN_FIGS = [["total_return_pct", "return %"], ["buy_and_hold_return_pct", "B&H %"],
  ["maximum_drawdown_pct", "max DD %"], ["sharpe_ratio", "Sharpe"], ["total_trades", "trades"],
  ["win_rate", "win %"], ["direction_accuracy", "dir. acc. %"]];

async function openReport(run, button) {
  try {
    const r = await api(`/api/v1/runs/${encodeURIComponent(run.id)}/report`, { raw: true });
    const url = URL.createObjectURL(new Blob([await r.text()], { type: "text/html" }));
    window.open(url, "_blank");
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) { button.textContent = `report: ${e.message}`; }
}

function renderRuns(page) {
  fill($("run-table").tBodies[0], page.runs, (tr, run) => {
    tr.dataset.run = run.id;
    [run.created_at.slice(0, 16).replace("T", " "), run.kind, run.name || run.id, run.status, run.symbols.join(",")]
      .forEach((v) => cell(tr, v));
    RUN_FIGS.forEach(([k]) => cell(tr, k in run.figures ? fmt(run.figures[k], k === "total_trades" ? 0 : 2) : "—"));
    const td = cell(tr, "");
    if (run.has_report) {
      const b = document.createElement("button"); b.type = "button"; b.textContent = "Report";
      b.setAttribute("aria-label", `Open the report of ${run.id}`);
      b.addEventListener("click", () => openReport(run, b));
      td.appendChild(b);
    }
  });
  $("runs-more").hidden = !page.next_cursor;
  TM.runsCursor = page.next_cursor;
}
$("runs-more").addEventListener("click", async () => {
  const more = await api(`/api/v1/runs?limit=20&cursor=${encodeURIComponent(TM.runsCursor)}`);
  const rows = [...$("run-table").tBodies[0].rows];
  renderRuns(more);
  $("run-table").tBodies[0].prepend(...rows);
});

// Coalesce refreshes: at most one request per panel per 250 ms.
function refresh(what) {
  if (TM.timers[what]) return;
  TM.timers[what] = setTimeout(async () => {
    TM.timers[what] = null;
    try {
      if (what === "models") renderModels(await api("/api/v1/model/status"));
      else if (what === "runs") renderRuns(await api("/api/v1/runs?limit=20"));
      else renderPortfolio(await api("/api/v1/portfolio"));
    } catch (e) { console.warn(what, e.message); }
  }, 250);
}
