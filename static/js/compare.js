// Two kept results laid against each other (/compare/{a}/{b}, or "Run again and
// compare" on a result's page): the verdict first, then each place hop by hop
// (the hosts in each, whether the hop changed, loss and average then and now) or,
// for ping, each statistic then and now and both runs on one chart. While either
// run still goes on, the comparison is asked for again every second.
// Everything from the server is shown through textContent only.

import { drawing, niceCeiling, PAD, scales, SVG } from "./chart.js";
import { ms, ui } from "./dom.js";
import { compareUrl, compareApiUrl, resultUrl } from "./params.js";

const AGAIN_MS = 1000;
let watching = null; // { a, b, timer }

const STATES = {
  same: "same",
  varies: "varies (several routers)",
  changed: "changed",
  unknown: "no answer in one",
  only_a: "only in a",
  only_b: "only in b",
};

export function showComparison(found) {
  ui.comparison.hidden = false;
  ui.verdict.textContent = found.verdict;
  ui.comparisonLink.href = compareUrl(found.a.id, found.b.id).href;
  ui.comparisonAbout.replaceChildren(...about("a", found.a), document.createTextNode(" · "), ...about("b", found.b));
  ui.comparisonPlaces.replaceChildren(...found.places.map((place) => placeView(place, found.places.length > 1)));
  if (found.running) watch(found.a.id, found.b.id);
  else unwatch();
}

// "Run again and compare": the new run's result against the stored one, as it streams.
export function compareLive(a, b) {
  watch(a, b, true);
}

export function hideComparison() {
  unwatch();
  ui.comparison.hidden = true;
}

function watch(a, b, now = false) {
  if (watching && watching.a === a && watching.b === b && !now) return;
  unwatch();
  watching = { a, b, timer: null };
  const mine = watching;
  const ask = async () => {
    if (watching !== mine) return;
    try {
      const response = await fetch(compareApiUrl(a, b), { headers: { Accept: "application/json" } });
      if (watching !== mine) return;
      if (response.ok) {
        const found = await response.json();
        if (watching !== mine) return;
        showComparison(found);
        if (!found.running) return;
      }
    } catch {
      // Asked again below: a blip must not end the comparison.
    }
    if (watching === mine) mine.timer = setTimeout(ask, AGAIN_MS);
  };
  if (now) ask();
  else mine.timer = setTimeout(ask, AGAIN_MS);
}

function unwatch() {
  if (watching && watching.timer) clearTimeout(watching.timer);
  watching = null;
}

function about(name, run) {
  const link = document.createElement("a");
  link.href = resultUrl(run.id).href;
  link.textContent = `${name}: ${new Date(run.started_at * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
  const where = document.createTextNode(run.node ? ` on ${run.node}` : "");
  return [link, where];
}

function placeView(place, several) {
  const section = document.createElement("div");
  section.className = "comparison-place";
  if (several) {
    const title = document.createElement("h3");
    title.textContent = `${place.node}: ${place.verdict}`;
    section.append(title);
  }
  if (place.hops && place.hops.length) section.append(hopTable(place));
  if (place.statistics && Object.keys(place.statistics).length) {
    section.append(statisticsTable(place.statistics), seriesChart(place.series));
  }
  return section;
}

function cell(tag, text, className = "") {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function table(caption, headings, rows) {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.tabIndex = 0;
  wrap.setAttribute("aria-label", `${caption} (scrolls sideways on small screens)`);
  const el = document.createElement("table");
  el.className = "comparison-table";
  el.append(cell("caption", caption, "visually-hidden"));
  const head = document.createElement("tr");
  for (const [text, className] of headings) {
    const th = cell("th", text, className);
    th.scope = "col";
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  tbody.append(...rows);
  el.append(thead, tbody);
  wrap.append(el);
  return wrap;
}

function hopTable(place) {
  const rows = place.hops.map((hop) => {
    const tr = document.createElement("tr");
    tr.className = `hop-${hop.state}`;
    tr.append(cell("td", String(hop.hop), "num"), cell("td", hosts(hop.a)), cell("td", hosts(hop.b)),
      cell("td", STATES[hop.state] || hop.state, "state"), moved(hop.loss_pct, "%"), moved(hop.avg_ms, " ms"));
    if (hop.hop === place.changed_at) tr.classList.add("first-change");
    return tr;
  });
  return table("Hops, a against b", [["Hop", "num"], ["Hosts in a", ""], ["Hosts in b", ""], ["", ""],
    ["Loss a → b", "num"], ["Avg a → b", "num"]], rows);
}

function hosts(list) {
  if (!list || list.length === 0) return "*";
  return list.map((h) => [h.name || h.address, h.asn ? `AS${h.asn}` : ""].filter(Boolean).join(" ")).join(", ");
}

function moved(figure, unit) {
  const td = document.createElement("td");
  td.className = "num";
  const show = (value) => {
    if (value === null || value === undefined) return "–";
    if (unit === "%") return `${value}%`;
    return unit ? ms(value) : String(value); // counts as they are, times as the hop table shows them
  };
  td.textContent = `${show(figure.a)} → ${show(figure.b)}`;
  if (figure.change !== null && figure.change !== undefined && figure.change !== 0) {
    const change = cell("span", ` (${figure.change > 0 ? "+" : ""}${Number(figure.change.toFixed(3))})`, "change");
    td.append(change);
  }
  return td;
}

const STATISTICS = [["transmitted", "Sent", ""], ["received", "Received", ""], ["loss_pct", "Loss", "%"],
  ["min_ms", "Min", " ms"], ["avg_ms", "Avg", " ms"], ["max_ms", "Max", " ms"]];

function statisticsTable(statistics) {
  const rows = STATISTICS.filter(([key]) => statistics[key]).map(([key, label, unit]) => {
    const tr = document.createElement("tr");
    tr.append(cell("th", label), moved(statistics[key], unit));
    tr.firstChild.scope = "row";
    return tr;
  });
  return table("Statistics, a against b", [["", ""], ["a → b", "num"]], rows);
}

// Both runs on one chart: round-trip time per probe, a and b in two colours (and two
// dash patterns, so the legend does not rest on colour alone); a lost probe is a cross.
function seriesChart(series) {
  const figure = document.createElement("figure");
  figure.className = "chart comparison-chart";
  const [width, height] = [600, 180];
  const all = [...series.a, ...series.b];
  const top = niceCeiling(Math.max(0.001, ...all.map((p) => p.rtt_ms || 0)));
  const { x, y } = scales(width, height, Math.max(1, ...all.map((p) => p.seq)), top);
  const { nodes, el } = drawing();
  el("text", { x: 4, y: PAD.top + 8, class: "axis" }, `${ms(top)} ms`);
  el("line", { x1: PAD.left, x2: width - PAD.right, y1: height - PAD.bottom, y2: height - PAD.bottom, class: "axis" });
  for (const name of ["a", "b"]) {
    const points = series[name].filter((p) => p.rtt_ms !== null).map((p) => `${x(p.seq)},${y(p.rtt_ms)}`);
    if (points.length) el("polyline", { points: points.join(" "), class: `series series-${name}`, fill: "none" });
    for (const p of series[name].filter((q) => q.rtt_ms === null)) {
      el("text", { x: x(p.seq), y: height - PAD.bottom - 4, class: `lost series-${name}` }, "×");
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Round-trip time per probe, a against b");
  svg.replaceChildren(...nodes);
  figure.append(svg);
  const legend = document.createElement("figcaption");
  legend.className = "legend";
  for (const name of ["a", "b"]) {
    const key = cell("span", `${name}`, `key series-${name}`);
    legend.append(key, document.createTextNode(name === "a" ? " then, " : " now"));
  }
  figure.append(legend);
  return figure;
}
