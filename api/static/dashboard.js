// The metering dashboard: reads the JSON API with the key kept in sessionStorage and draws
// with DOM and SVG elements. Data is only ever written as text (textContent, never HTML).
"use strict";

const KEY = "metering.api_key";
const SVG = "http://www.w3.org/2000/svg";
const fmt = (v) => (v === null || v === undefined) ? "–" :
  Number(v).toLocaleString("en-US", {maximumFractionDigits: 2});
const day = (t) => t ? String(t).slice(0, 10) : "–";
const when = (t) => t ? String(t).replace("T", " ").slice(0, 16) : "–";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function section(title, ...children) {
  return el("section", {}, el("h2", {}, title), ...children);
}

function table(headers, rows, numeric) {
  const num = new Set(numeric || []);
  const head = el("tr", {}, ...headers.map((h, i) => el("th", num.has(i) ? {class: "num"} : {}, h)));
  const body = rows.map((r) => el("tr", {}, ...r.map((c, i) =>
    el("td", num.has(i) ? {class: "num"} : {}, c))));
  return rows.length ? el("table", {}, el("thead", {}, head), el("tbody", {}, ...body))
    : el("p", {class: "muted"}, "none");
}

// ---- the key ------------------------------------------------------------------------------
function takeKeyFromFragment() {
  const m = location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function askForKey(message) {
  document.getElementById("main").replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

class HttpError extends Error {
  constructor(status, body) { super(body.error || String(status)); this.status = status; this.body = body; }
}

async function api(path, raw) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new HttpError(401, {error: "an API key is needed"});
  const r = await fetch(path, {headers: {Authorization: "Bearer " + key}, cache: "no-store"});
  if (!r.ok) {
    let body = {};
    try { body = await r.json(); } catch (e) { body = {error: r.statusText}; }
    throw new HttpError(r.status, body);
  }
  return raw ? r.blob() : r.json();
}

// ---- account page -------------------------------------------------------------------------
function usageBars(usage) {
  const rows = [];
  for (const p of usage.products) for (const m of p.meters) if (m.limit !== null) rows.push([p, m]);
  if (!rows.length) return el("p", {class: "muted"}, usage.tracked ? "no limited meter" :
    "the stream keeps no live usage of this account");
  const W = 900, label = 230, barW = 430, rowH = 34;
  const chart = svg("svg", {viewBox: `0 0 ${W} ${rows.length * rowH + 8}`, width: "100%",
    role: "img", "aria-label": "usage against allotment"});
  rows.forEach(([p, m], i) => {
    const y = 4 + i * rowH, value = Number(m.value), limit = Number(m.limit);
    const share = limit > 0 ? Math.min(value / limit, 1) : 1;
    const pct = limit > 0 ? value * 100 / limit : 100;
    const colour = pct >= 100 ? "#c62828" : pct >= 80 ? "#ef8f00" : "#2e7d32";
    chart.append(svg("text", {x: 0, y: y + 18}, `${p.product} · ${m.meter}`));
    chart.append(svg("rect", {x: label, y, width: barW, height: 24, rx: 3, fill: "#e3e7ec"}));
    chart.append(svg("rect", {x: label, y, width: Math.max(share * barW, 1), height: 24, rx: 3,
      fill: colour, class: "used"}));
    chart.append(svg("text", {x: label + barW + 12, y: y + 18, class: "figure"},
      `${fmt(m.value)} / ${fmt(m.limit)} (${m.used_percent ?? fmt(pct)}%)`));
  });
  return chart;
}

function alertTimeline(usage, alerts) {
  const start = Date.parse(usage.cycle_start), end = Date.parse(usage.cycle_end);
  const points = alerts.filter((a) => Date.parse(a.cycle_start) === start && a.limit !== null
    && Number(a.limit) > 0).map((a) => ({a, t: Date.parse(a.crossed_at),
    pct: Number(a.value) * 100 / Number(a.limit)})).sort((x, y) => x.t - y.t);
  if (!points.length) return el("p", {class: "muted"}, "no alert in this cycle");
  const W = 900, H = 220, L = 50, R = 20, T = 14, B = 30;
  const top = Math.max(120, ...points.map((p) => p.pct));
  const x = (t) => L + (W - L - R) * Math.min(Math.max((t - start) / (end - start), 0), 1);
  const y = (v) => H - B - (H - T - B) * v / top;
  const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
    "aria-label": "alerts over the cycle"});
  chart.append(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc",
    stroke: "#dde1e6"}));
  for (const v of [0, 50, 100]) {
    chart.append(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: v === 100 ?
      "#c62828" : "#dde1e6", "stroke-dasharray": v === 100 ? "6 4" : "2 3"}));
    chart.append(svg("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, `${v}%`));
  }
  chart.append(svg("text", {x: L, y: H - 8}, day(usage.cycle_start)));
  chart.append(svg("text", {x: W - R, y: H - 8, "text-anchor": "end"}, day(usage.cycle_end)));
  const meters = [...new Set(points.map((p) => p.a.meter))];
  const colours = ["#1f5fa8", "#8e24aa", "#00897b", "#ef6c00"];
  meters.forEach((meter, k) => {
    const mine = points.filter((p) => p.a.meter === meter);
    const path = [[x(start), y(0)], ...mine.map((p) => [x(p.t), y(p.pct)])];
    chart.append(svg("polyline", {points: path.map((q) => q.join(",")).join(" "), fill: "none",
      stroke: colours[k % colours.length], "stroke-width": 2}));
    mine.forEach((p, i) => {  // labels alternate above and below so near points stay legible
      chart.append(svg("circle", {cx: x(p.t), cy: y(p.pct), r: 5,
        fill: colours[k % colours.length]}));
      chart.append(svg("text", {x: x(p.t) + 8, y: y(p.pct) + (i % 2 ? 18 : -8)},
        `${meter} ${p.a.threshold} (${when(p.a.crossed_at)})`));
    });
  });
  return chart;
}

// One panel per limited meter: the value at the end of each day (points), the allotment
// (dashed red), the forecast from now to the cycle's end (dotted orange).
function usageOverTime(history) {
  if (!history.meters.length) return el("p", {class: "muted"}, "no limited meter is tracked");
  const start = Date.parse(history.cycle_start), end = Date.parse(history.cycle_end);
  const now = Date.parse(history.now);
  const W = 900, H = 180, L = 70, R = 20, T = 24, B = 26;
  const x = (t) => L + (W - L - R) * Math.min(Math.max((t - start) / (end - start), 0), 1);
  const endOfDay = (d) => Math.min(Date.parse(d + "T00:00:00Z") + 86400000, now);
  return el("div", {}, ...history.meters.map((m) => {
    const top = Math.max(1, ...m.days.map((d) => Number(d.value)), Number(m.forecast),
      m.limit === null ? 0 : Number(m.limit)) * 1.1;
    const y = (v) => H - B - (H - T - B) * Number(v) / top;
    const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
      class: "usage-history", "data-meter": m.meter,
      "aria-label": `${m.meter} day by day against the allotment`});
    chart.append(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B,
      fill: "#fafbfc", stroke: "#dde1e6"}));
    chart.append(svg("text", {x: L, y: 14}, `${m.product} · ${m.plan} · ${m.meter}: ` +
      `${fmt(m.value)} now, forecast ${fmt(m.forecast)}` +
      (m.limit === null ? "" : ` of ${fmt(m.limit)}`) +
      (m.over_at ? ` · over on ${m.over_at}` : "")));
    const p10 = 10 ** Math.floor(Math.log10(top / 2));
    const mid = [5, 2, 1].map((k) => k * p10).find((v) => v <= top / 2);  // a round figure
    for (const v of [0, mid]) {
      chart.append(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#dde1e6"}));
      chart.append(svg("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, fmt(v)));
    }
    if (m.limit !== null) {
      chart.append(svg("line", {x1: L, x2: W - R, y1: y(m.limit), y2: y(m.limit),
        stroke: "#c62828", "stroke-dasharray": "6 4", class: "allotment"}));
      chart.append(svg("text", {x: L - 6, y: y(m.limit) + 4, "text-anchor": "end",
        fill: "#c62828"}, fmt(m.limit)));
    }
    const first = m.reads === "sum" ? 0 : Number(m.days[0].value);
    const pts = [[x(start), y(first)], ...m.days.map((d) => [x(endOfDay(d.day)), y(d.value)])];
    chart.append(svg("polyline", {points: pts.map((q) => q.join(",")).join(" "), fill: "none",
      stroke: "#1f5fa8", "stroke-width": 2, class: "used"}));
    m.days.forEach((d) => chart.append(svg("circle", {cx: x(endOfDay(d.day)), cy: y(d.value),
      r: 3, fill: "#1f5fa8", class: "day", "data-day": d.day, "data-value": d.value})));
    chart.append(svg("line", {x1: x(now), y1: y(m.value), x2: x(end), y2: y(m.forecast),
      stroke: "#ef6c00", "stroke-width": 2, "stroke-dasharray": "2 4", class: "forecast"}));
    chart.append(svg("text", {x: L, y: H - 6}, day(history.cycle_start)));
    chart.append(svg("text", {x: W - R, y: H - 6, "text-anchor": "end"}, day(history.cycle_end)));
    return chart;
  }));
}

async function openDocument(account, inv, ext) {
  const tab = ext === "html" ? window.open("", "_blank") : null;
  const blob = await api(`/v1/accounts/${encodeURIComponent(account)}/invoices/` +
    `${encodeURIComponent(inv.number || inv.invoice_id)}.${ext}`, true);
  const url = URL.createObjectURL(blob);
  if (tab) { tab.location = url; return; }
  const a = el("a", {href: url, download: `${inv.number || inv.invoice_id}.${ext}`});
  document.body.append(a); a.click(); a.remove();
}

function docLink(account, inv, ext) {
  const a = el("a", {href: "#", class: `doc-${ext}`}, ext.toUpperCase());
  a.addEventListener("click", (e) => {
    e.preventDefault();
    openDocument(account, inv, ext).catch((err) => alert(`cannot open the invoice: ${err.message}`));
  });
  return a;
}

async function accountPage(main) {
  const account = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const base = `/v1/accounts/${encodeURIComponent(account)}`;
  const [usage, history, alerts, decisions, invoices] = await Promise.all([
    api(`${base}/usage`), api(`${base}/usage/history`), api(`${base}/alerts?limit=100`),
    api(`${base}/decisions?limit=50`), api(`${base}/invoices`)]);
  document.querySelector("h1").textContent = `Account ${account}`;
  const peaks = Object.keys({...usage.peaks, ...usage.levels}).sort().map((g) =>
    [g, fmt(usage.peaks[g]), fmt(usage.levels[g])]);
  main.replaceChildren(
    el("p", {class: "muted"}, `cycle ${day(usage.cycle_start)} – ${day(usage.cycle_end)} · ` +
      `plans: ${usage.products.map((p) => `${p.product}: ${p.plan}` +
        (p.blocked ? ` (blocked: ${p.blocked})` : "")).join(", ") || "none"} · ` +
      (usage.as_of_offset === null ? "live state" : `as of offset ${usage.as_of_offset}`)),
    section("Usage against allotment, cycle to date", usageBars(usage)),
    section("Usage day by day (allotment dashed, forecast dotted)", usageOverTime(history)),
    section("Alerts over the cycle (% of the limit)", alertTimeline(usage, alerts.alerts)),
    section("Peaks (gauges)", table(["gauge", "peak this cycle", "level now"], peaks, [1, 2])),
    section("Alerts", table(["crossed at", "product", "meter", "threshold", "value", "limit",
      "projected"], alerts.alerts.map((a) => [when(a.crossed_at), a.product, a.meter,
      a.threshold, fmt(a.value), fmt(a.limit), fmt(a.projected)]), [4, 5, 6])),
    section("Decisions", table(["at", "product", "meter", "decision", "reason", "plan",
      "cost"], decisions.decisions.map((d) => [when(d.at), d.product, d.meter, d.kind,
      d.reason, d.target_plan ? `${d.plan} → ${d.target_plan}` : d.plan,
      `${d.currency} ${fmt(d.cost)}`]), [6])),
    section("Invoices", table(["number", "kind", "period", "total", "document"],
      invoices.invoices.map((i) => [i.number || i.invoice_id, i.kind || "",
        `${day(i.cycle_start)} – ${day(i.cycle_end)}`, `${i.currency || ""} ${fmt(i.total)}`,
        el("span", {}, docLink(account, i, "html"), " · ", docLink(account, i, "pdf"))]),
      [3])));
}

// ---- operator page ------------------------------------------------------------------------
function hbars(rows, aria) {
  const W = 900, label = 330, barW = 460, rowH = 24;
  const top = Math.max(1, ...rows.map((r) => r[1]));
  const chart = svg("svg", {viewBox: `0 0 ${W} ${rows.length * rowH + 6}`, width: "100%",
    role: "img", "aria-label": aria});
  rows.forEach(([name, n], i) => {
    const y = 3 + i * rowH;
    chart.append(svg("text", {x: 0, y: y + 14}, name));
    chart.append(svg("rect", {x: label, y, width: Math.max(barW * n / top, 1), height: 18,
      fill: n ? "#ef8f00" : "#2e7d32"}));
    chart.append(svg("text", {x: label + barW + 10, y: y + 14}, fmt(n)));
  });
  return chart;
}

async function opsPage(main) {
  const s = await api("/v1/ops/status");
  const lagRows = s.lag.map((r) => [`${r.group} · ${r.topic} [${r.partition}]`, r.lag]);
  main.replaceChildren(
    el("p", {class: "muted"}, `read at ${when(s.read_at)} · refreshed every 10 s`),
    section(`Consumer lag (total ${fmt(s.lag.reduce((n, r) => n + r.lag, 0))})`,
      lagRows.length ? hbars(lagRows, "consumer lag per partition") : el("p", {}, ""),
      table(["group", "topic", "partition", "committed", "end", "lag"],
        s.lag.map((r) => [r.group, r.topic, r.partition, fmt(r.committed), fmt(r.end),
          fmt(r.lag)]), [2, 3, 4, 5])),
    section("Rejected events by reason", s.rejected.length ?
      hbars(s.rejected.map((r) => [r.reason, r.count]), "rejected events by reason") :
      el("p", {class: "muted"}, "none")));
}

// ---- price simulations ------------------------------------------------------------------
async function post(path, body) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new HttpError(401, {error: "an API key is needed"});
  const r = await fetch(path, {method: "POST", cache: "no-store", body: JSON.stringify(body),
    headers: {Authorization: "Bearer " + key, "Content-Type": "application/json"}});
  let answer = {};
  try { answer = await r.json(); } catch (e) { answer = {error: r.statusText}; }
  if (!r.ok) throw new HttpError(r.status, answer);
  return answer;
}

function simulationForm(main) {
  const book = el("textarea", {id: "sim-book", rows: "16", cols: "100", required: "",
    placeholder: "the candidate price book (YAML): a reference book with your changes"});
  const from = el("input", {id: "sim-from", required: "", pattern: "\\d{4}-\\d{2}",
    placeholder: "2025-01"});
  const to = el("input", {id: "sim-to", required: "", pattern: "\\d{4}-\\d{2}",
    placeholder: "2025-06"});
  const only = el("input", {id: "sim-accounts", size: "60",
    placeholder: "only these accounts (comma-separated; empty: all)"});
  const problem = el("pre", {class: "error", id: "sim-error"});
  const form = el("form", {id: "sim-form"}, el("p", {}, el("label", {}, "from ", from), " ",
    el("label", {}, "to ", to), " ", only), book, el("p", {},
    el("button", {type: "submit"}, "simulate")), problem);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    problem.textContent = "";
    try {
      const queued = await post("/v1/simulations", {pricebook: book.value,
        from_month: from.value, to_month: to.value,
        accounts: only.value.split(",").map((a) => a.trim()).filter(Boolean)});
      location.assign(`/dashboard/simulations/${queued.id}`);
    } catch (err) {
      const lines = (err.body && err.body.problems || []).map((p) => `${p.path}: ${p.problem}`);
      problem.textContent = [`${err.status} ${err.body ? err.body.reason || "" : ""}: ` +
        err.message, ...lines].join("\n");
    }
  });
  main.replaceChildren(section("Simulate a candidate price book over closed cycles", form));
}

function groupedBars(months, currency) {
  const W = 900, H = 300, L = 80, R = 20, T = 16, B = 46;
  const top = Math.max(1, ...months.flatMap((m) => [Number(m.before), Number(m.after)]));
  const band = (W - L - R) / Math.max(months.length, 1), bar = Math.min(40, band / 2.6);
  const y = (v) => H - B - (H - T - B) * v / top;
  const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
    "aria-label": "revenue by month, now and under the candidate", id: "revenue-chart"});
  for (const v of [0, top / 2, top]) {
    chart.append(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#dde1e6"}));
    chart.append(svg("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, fmt(v)));
  }
  months.forEach((m, i) => {
    const cx = L + band * (i + 0.5);
    chart.append(svg("rect", {x: cx - bar, y: y(Number(m.before)), width: bar,
      height: y(0) - y(Number(m.before)), fill: "#4c72b0", class: "before"}));
    chart.append(svg("rect", {x: cx, y: y(Number(m.after)), width: bar,
      height: y(0) - y(Number(m.after)), fill: "#dd8452", class: "after"}));
    chart.append(svg("text", {x: cx, y: H - B + 16, "text-anchor": "middle"}, m.month));
    chart.append(svg("text", {x: cx, y: H - B + 32, "text-anchor": "middle", class: "figure"},
      m.difference_pct === null ? fmt(m.difference) : `${Number(m.difference_pct) > 0 ? "+" : ""}${m.difference_pct}%`));
  });
  chart.append(svg("text", {x: L, y: 12}, `${currency} · blue: now · orange: candidate`));
  return chart;
}

function histogram(accounts, currency) {
  const diffs = accounts.map((a) => Number(a.difference));
  const W = 900, H = 240, L = 50, R = 20, T = 14, B = 40, bins = 20;
  const lo = Math.min(0, ...diffs), hi = Math.max(0, ...diffs);
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const d of diffs) counts[Math.min(bins - 1, Math.floor((d - lo) / width))] += 1;
  const top = Math.max(1, ...counts);
  const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
    "aria-label": "distribution of the change per account", id: "change-chart"});
  const bw = (W - L - R) / bins;
  counts.forEach((n, i) => {
    const h = (H - T - B) * n / top;
    chart.append(svg("rect", {x: L + i * bw, y: H - B - h, width: Math.max(bw - 2, 1), height: h,
      fill: "#dd8452"}));
    if (n) chart.append(svg("text", {x: L + i * bw + bw / 2, y: H - B - h - 4,
      "text-anchor": "middle"}, n));
  });
  chart.append(svg("text", {x: L, y: H - 12}, `${fmt(lo)} ${currency}`));
  chart.append(svg("text", {x: W - R, y: H - 12, "text-anchor": "end"}, `${fmt(hi)} ${currency}`));
  return chart;
}

const pctText = (t) => t.difference_pct === null ? "–" : `${t.difference_pct}%`;
const totalsRow = (t) => [fmt(t.before), fmt(t.after), fmt(t.difference), pctText(t)];

function accountRows(rows) {
  return table(["account", "now", "candidate", "difference", "%", "what changes"],
    rows.map((a) => [a.account, ...totalsRow(a),
      a.changes.map((c) => `${c.status}: ${c.description}`).join("; ") || "–"]), [1, 2, 3, 4]);
}

async function chartLinks(id) {
  const links = [];
  for (const name of ["revenue_by_month", "change_distribution"]) for (const ext of ["svg", "png"]) {
    const a = el("a", {href: "#", class: `chart-${ext}`}, `${name}.${ext}`);
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      const blob = await api(`/v1/simulations/${id}/charts/${name}.${ext}`, true);
      const link = el("a", {href: URL.createObjectURL(blob), download: `${name}.${ext}`});
      document.body.append(link); link.click(); link.remove();
    });
    links.push(a, " ");
  }
  return el("p", {}, "pictures: ", ...links);
}

async function simulationPage(main) {
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  if (id === "simulations") { simulationForm(main); return; }
  let s = await api(`/v1/simulations/${encodeURIComponent(id)}`);
  for (let i = 0; s.status === "pending" && i < 600; i++) {
    main.replaceChildren(el("p", {class: "muted", id: "pending"},
      `simulation ${id}: running (the page follows it)…`));
    await new Promise((r) => setTimeout(r, 1000));
    s = await api(`/v1/simulations/${encodeURIComponent(id)}`);
  }
  if (s.status !== "done") {
    main.replaceChildren(el("p", {class: "error", id: "error"},
      `simulation ${id} ${s.status}: ${s.reason || ""} ${s.detail || ""}`));
    return;
  }
  const r = s.report;
  document.querySelector("h1").textContent = `Simulation ${r.current} → ${r.candidate}`;
  main.replaceChildren(
    el("p", {class: "muted", id: "summary"}, `${r.from_month} to ${r.to_month} · ` +
      `${r.accounts.length} accounts · total ${r.currency} ${fmt(r.total.before)} → ` +
      `${fmt(r.total.after)} (${fmt(r.total.difference)}, ${pctText(r.total)}) · ` +
      `${r.seconds} s`),
    section("What the candidate changes", r.book_changes.length ?
      el("ul", {}, ...r.book_changes.map((c) => el("li", {}, `${c.kind} ${c.path}: ` +
        `${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`))) :
      el("p", {class: "muted"}, "nothing: the same book")),
    section("Revenue by month", groupedBars(r.months, r.currency),
      table(["month", "now", "candidate", "difference", "%"],
        r.months.map((m) => [m.month, ...totalsRow(m)]), [1, 2, 3, 4])),
    section("By month and plan", table(["month", "product", "plan", "now", "candidate",
      "difference", "%"], r.plans.map((p) => [p.month, p.product, p.plan, ...totalsRow(p)]),
      [3, 4, 5, 6])),
    section("Change per account", histogram(r.accounts, r.currency)),
    section("Gain most", accountRows(r.top_gain)),
    section("Lose most", accountRows(r.top_loss)),
    await chartLinks(id));
}

// ---- start --------------------------------------------------------------------------------
async function load() {
  const main = document.getElementById("main");
  const page = document.body.dataset.page;
  try {
    document.getElementById("login").hidden = true;
    const who = await api("/v1/whoami");
    document.getElementById("who").textContent = `key: ${who.name}`;
    await (page === "ops" ? opsPage(main) : page === "simulation" ? simulationPage(main) :
      accountPage(main));
  } catch (err) {
    if (err.status === 401) { sessionStorage.removeItem(KEY); askForKey(err.message); return; }
    main.replaceChildren(el("p", {class: "error", id: "error"},
      `${err.status || ""} ${err.body ? err.body.reason || "" : ""}: ${err.message}`));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  takeKeyFromFragment();
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("key").value);
    load();
  });
  document.getElementById("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY); askForKey("key forgotten");
  });
  if (!sessionStorage.getItem(KEY)) { askForKey(""); return; }
  load();
  if (document.body.dataset.page === "ops") setInterval(load, 10000);
});
