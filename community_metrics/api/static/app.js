// The dashboard: plain DOM over the read-only API (same origin, no CDN, no framework).
"use strict";

const API = "/api/v1";
const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
const theme = dark ? "dark" : "light";
let chartsPending = 0;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

async function getJSON(path) {
  const response = await fetch(API + path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function count(n) {
  if (n === null || n === undefined) return "n/a";
  const abs = Math.abs(n);
  if (abs >= 1e6) return (n / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
  if (abs >= 1e3) return (n / 1e3).toFixed(abs >= 1e4 ? 0 : 1) + "k";
  return String(n);
}

function delta(change, pct) {
  if (change === null) return el("span", { class: "delta" }, "no week before");
  const sign = change > 0 ? "+" : "";
  const text = `${sign}${count(change)}` + (pct === null ? "" : ` (${sign}${pct.toFixed(1)}%)`);
  return el("span", { class: "delta " + (change >= 0 ? "up" : "down") }, text);
}

function sparkline(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  const known = values.filter((v) => v !== null);
  if (known.length) {
    const lo = Math.min(...known), hi = Math.max(...known), span = hi - lo || 1;
    let d = "", pen = "M";
    values.forEach((v, i) => {
      if (v === null) { pen = "M"; return; }  // a missing week is a gap
      const x = values.length > 1 ? (100 * i) / (values.length - 1) : 50;
      d += `${pen}${x.toFixed(1)},${(28 - (26 * (v - lo)) / span).toFixed(1)} `;
      pen = "L";
    });
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d.trim());
    svg.append(path);
  }
  return svg;
}

function chart(container, ids, weeks, scale) {
  const [first, ...rest] = ids;
  const params = new URLSearchParams({ weeks, theme, scale });
  if (rest.length) params.set("compare", rest.join(","));
  const img = el("img", {
    class: "chart",
    alt: `weekly chart of ${ids.join(", ")}`,
    src: `${API}/chart/${encodeURIComponent(first)}.svg?${params}`,
  });
  chartsPending += 1;
  const done = () => {
    chartsPending -= 1;
    if (chartsPending === 0) document.body.dataset.chartsLoaded = "true";
  };
  img.addEventListener("load", done, { once: true });
  img.addEventListener("error", done, { once: true });
  container.append(img);
}

function card(name, value, change, pct, note, spark) {
  const box = el("div", { class: "card" }, el("div", { class: "name" }, name));
  box.append(el("div", { class: "value" }, count(value)), delta(change, pct));
  if (note) box.append(el("div", { class: "note" }, note));
  if (spark) box.append(sparkline(spark));
  return box;
}

async function loadDashboard() {
  const [board, health, runs] = await Promise.all([
    getJSON("/dashboard/weekly?weeks=12"),
    getJSON("/health"),
    getJSON("/history?limit=5"),
  ]);
  const last = health.last_successful_run;
  document.getElementById("freshness").textContent =
    `week of ${board.week} (latest closed: ${board.latest_closed_week}) · ` +
    `last successful run ${last ? last.finished_at.slice(0, 16).replace("T", " ") + " UTC" : "none yet"}` +
    (health.stale_metrics.length ? ` · stale: ${health.stale_metrics.join(", ")}` : " · all metrics fresh");
  document.getElementById("week-title").textContent = `Week of ${board.week}`;

  const totals = document.getElementById("totals");
  for (const product of board.products) {
    const note = product.missing.length ? `without ${product.missing.join(", ")}` : "all registries";
    totals.append(card(`${product.name}: downloads, all registries`, product.value,
      product.change, product.pct_change, note));
  }
  const stars = board.total_stars;
  totals.append(card("total GitHub stars", stars.value, stars.change, stars.pct_change,
    stars.missing.length ? `without ${stars.missing.join(", ")}` : ""));

  const cards = document.getElementById("cards");
  for (const m of board.metrics) {
    const note = (m.complete ? "" : "incomplete week · ") +
      (m.avg_4w === null ? "" : `4-week avg ${count(Math.round(m.avg_4w))}`);
    cards.append(card(m.display_name, m.value, m.change, m.pct_change, note, m.sparkline));
  }

  const movers = document.getElementById("movers");
  if (!board.movers.length) movers.append(el("li", { class: "muted" }, "no two comparable weeks yet"));
  for (const m of board.movers) movers.append(el("li", {}, `${m.display_name} `, delta(m.change, m.pct_change)));

  const runList = document.getElementById("runs");
  if (!runs.length) runList.append(el("li", { class: "muted" }, "no runs yet"));
  for (const r of runs) {
    const errors = Object.keys(r.errors).length ? ` · errors: ${Object.keys(r.errors).join(", ")}` : "";
    runList.append(el("li", { class: r.status },
      `${r.started_at.slice(0, 16).replace("T", " ")} ${r.job_name} ${r.status}${errors}`));
  }

  const byProduct = {};
  const starIds = [];
  for (const m of board.metrics) {
    if (m.kind === "stars") starIds.push(m.metric_id);
    else (byProduct[m.product] = byProduct[m.product] || []).push(m.metric_id);
  }
  const productCharts = document.getElementById("product-charts");
  for (const ids of Object.values(byProduct)) chart(productCharts, ids, 104, "linear");
  if (starIds.length) chart(document.getElementById("star-chart"), starIds, 260, "linear");
  setupCompare(board.metrics);
}

function setupCompare(metrics) {
  const form = document.getElementById("compare-form");
  const box = document.getElementById("compare-metrics");
  metrics.forEach((m, i) => {
    const input = el("input", { type: "checkbox", name: "metric", value: m.metric_id, checked: i < 2 });
    box.append(el("label", {}, input, ` ${m.display_name}`));
  });
  const draw = () => {
    const ids = [...form.querySelectorAll("input[name=metric]:checked")].map((i) => i.value);
    const target = document.getElementById("compare-chart");
    target.replaceChildren();
    if (ids.length) chart(target, ids, form.weeks.value, form.scale.value);
    else target.append(el("p", { class: "muted" }, "pick one or more metrics"));
  };
  form.addEventListener("change", draw);
  draw();
}

function setupSearch() {
  const form = document.getElementById("search-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = document.getElementById("hits");
    list.replaceChildren(el("li", { class: "muted" }, "searching…"));
    const params = new URLSearchParams({ q: form.q.value, mode: form.mode.value, k: 10 });
    try {
      const result = await getJSON(`/mentions/search?${params}`);
      list.replaceChildren();
      if (!result.hits.length) list.append(el("li", { class: "muted" }, "no mentions match"));
      for (const hit of result.hits) {
        const title = hit.url ? el("a", { href: hit.url, rel: "noopener" }, hit.title || hit.url) : el("b", {}, hit.title || "");
        list.append(el("li", {}, title,
          el("div", {}, hit.snippet),
          el("div", { class: "meta" }, `${hit.occurred_at.slice(0, 10)} · ${hit.source}/${hit.kind} · ${hit.products.join(", ")} · score ${hit.score.toFixed(3)}`)));
      }
    } catch (error) {
      list.replaceChildren(el("li", { class: "muted" }, String(error)));
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupSearch();
  loadDashboard()
    .then(() => { document.body.dataset.ready = "true"; })
    .catch((error) => {
      document.getElementById("freshness").textContent = `could not load: ${error.message}`;
      document.body.dataset.ready = "error";
    });
});
