// The hop table of a tool shown as hops: one row per hop, updated in place.
// Its columns are the template's (each <th data-column>), read once, at the first row.

import { SVG } from "./chart.js";
import { announce, mainView, ms, ui } from "./dom.js";

// Cycles a hop's sparkline and loss strip show: the last minute at mtr's own interval.
export const HISTORY = 60;
const SPARK = { width: 120, height: 26, strip: 5 };

let columns = null;

function columnsOf() {
  columns ??= [...mainView.hopsHead.querySelectorAll("th[data-column]")].map((th) => ({
    key: th.dataset.column,
    className: th.className,
  }));
  return columns;
}

export function resetHops(view) {
  view.hopsBody.replaceChildren();
  view.hopsSummary.hidden = true;
  view.hopsSummary.textContent = "";
}

// The columns its tool's record lists are shown; the others (another tool's) hidden.
export function showColumns(view, tool) {
  for (const th of view.hopsHead.querySelectorAll("th[data-column]")) {
    th.hidden = !shows(tool, th.dataset.column);
  }
}

function shows(tool, key) {
  return !tool || !tool.columns || tool.columns.includes(key);
}

// A hop tool's closing line (tracepath's Resume): the path MTU and the hops there and back.
export function onHopsSummary(summary, part) {
  if (summary.pmtu === undefined) return;
  const words = [`Path MTU ${summary.pmtu} bytes`];
  if (summary.hops !== undefined) words.push(`${summary.hops} hops there, ${summary.back} back`);
  // Begun at the path MTU already: this server knew it (its own, or learnt from an earlier run),
  // and no hop says where it drops.
  if (summary.local_pmtu !== undefined && summary.local_pmtu <= summary.pmtu) {
    words.push(`this server already sends at most ${summary.local_pmtu} bytes towards the target`);
  }
  part.view.hopsSummary.textContent = words.join(" · ");
  part.view.hopsSummary.hidden = false;
}

// ``part``: one part of a run (its view, its rows), ``tool``: the record of what it runs.
export function onHop(hop, part, tool) {
  let row = part.rows.get(hop.hop);
  const added = !row;
  if (added) {
    row = makeRow(hop.hop, tool);
    part.rows.set(hop.hop, row);
    const after = [...part.rows.keys()].filter((n) => n > hop.hop).sort((a, b) => a - b)[0];
    part.view.hopsBody.insertBefore(row.tr, after ? part.rows.get(after).tr : null);
  }
  fillRow(row, hop, tool);
  if (added && row.cells.history) drawHistory(row.cells.history, part.history.get(hop.hop) || [], hop.hop);
  // A new row may widen the table; an updated one hardly does, and reading widths costs a layout.
  if (added) cueScrolling(part);
  scaleBars(part);
}

// mtr's cycle: each hop's time in it (null: lost), added to the hop's recent history.
export function onCycle(cycle, part) {
  part.cycles = cycle.cycle;
  cycle.rtts_ms.forEach((rtt, index) => {
    const hop = index + 1;
    const history = part.history.get(hop) || [];
    history.push({ cycle: cycle.cycle, rtt, host: cycle.hosts[index] });
    if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    part.history.set(hop, history);
    const row = part.rows.get(hop);
    if (row && row.cells.history) drawHistory(row.cells.history, history, hop);
  });
}

// A sparkline of a hop's recent times (scaled to its own worst), and under it a strip
// with a red mark for each lost probe; in words for a screen reader and on hover.
// The hop table's "Recent" column, and each node's cell where paths are side by side.
export function drawHistory(cell, history, hop) {
  const { width, height, strip } = SPARK;
  const step = width / HISTORY;
  const lineHeight = height - strip - 2;
  const answered = history.filter((h) => h.rtt !== null);
  const worst = Math.max(...answered.map((h) => h.rtt), 0.001);
  const x = (i) => width - (history.length - i) * step + step / 2;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  const points = [];
  history.forEach((h, i) => {
    if (h.rtt !== null) points.push(`${x(i).toFixed(1)},${(1 + lineHeight - (h.rtt / worst) * lineHeight).toFixed(1)}`);
    else {
      const mark = document.createElementNS(SVG, "rect");
      for (const [k, v] of Object.entries({ x: x(i) - step / 2, y: height - strip, width: Math.max(step - 0.5, 1),
        height: strip, class: "spark-lost" })) mark.setAttribute(k, String(v));
      svg.append(mark);
    }
  });
  if (points.length) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", "spark-line");
    svg.append(line);
  }
  const lost = history.length - answered.length;
  const best = Math.min(...answered.map((h) => h.rtt));
  const words = history.length === 0 ? "no cycles yet"
    : `hop ${hop}, last ${history.length} cycles: ${lost} lost`
      + (answered.length ? `, ${ms(best)} to ${ms(worst)} ms` : "");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", words);
  const title = document.createElementNS(SVG, "title");
  title.textContent = words;
  svg.prepend(title);
  cell.replaceChildren(svg);
  cell.dataset.cycles = String(history.length);
  cell.dataset.lost = String(lost);
}

export function onTrim(data, part) {
  // mtr placed the target too far at first (its first replies were lost).
  for (const [n, row] of part.rows) {
    if (n > data.hops) {
      row.tr.remove();
      part.rows.delete(n);
    }
  }
  cueScrolling(part);
  scaleBars(part);
}

function makeRow(number, tool) {
  const tr = document.createElement("tr");
  const cells = {};
  let bar = null;
  for (const { key, className } of columnsOf()) {
    const td = document.createElement("td");
    td.className = key === "hosts" ? "hosts" : className;
    td.hidden = !shows(tool, key);
    tr.append(td);
    cells[key] = td;
  }
  cells.hop.textContent = String(number);
  if (cells.bar) {
    bar = document.createElement("span");
    bar.className = "bar";
    cells.bar.append(bar);
  }
  return { tr, cells, bar, avg: null };
}

function fillRow(row, hop, tool) {
  const { cells } = row;
  for (const { key } of columnsOf()) {
    const cell = cells[key];
    if (key === "hosts") fillHosts(cell, hop.hosts, tool);
    else if (key === "loss_pct") fillLoss(row, cell, hop.loss_pct);
    else if (key === "sent") cell.textContent = String(hop.sent);
    else if (key.endsWith("_ms")) cell.textContent = ms(hop[key]);
    else if (key === "pmtu") fillMtu(row, cell, hop.pmtu);
  }
  row.avg = hop.avg_ms;
}

// A hop that loses packets is marked as a whole row, and by a sign beside its figure, not by colour alone.
function fillLoss(row, cell, loss) {
  const state = loss >= 100 ? "loss-all" : loss > 0 ? "loss-some" : "";
  cell.className = `num ${state}`;
  cell.replaceChildren();
  if (state) {
    const sign = document.createElement("span");
    sign.className = "loss-sign";
    sign.textContent = "\u25B2 ";
    sign.title = "This hop loses packets";
    cell.append(sign);
  }
  cell.append(`${loss.toFixed(1)}%`);
  row.tr.classList.toggle("lossy", loss > 0 && loss < 100);
  row.tr.classList.toggle("all-lost", loss >= 100);
}

// Where the path MTU drops the hop says so in words and an arrow, and its whole row is marked.
function fillMtu(row, cell, pmtu) {
  const drops = typeof pmtu === "number";
  cell.textContent = drops ? `\u2193 ${pmtu}` : "";
  cell.title = drops ? `The path MTU drops to ${pmtu} bytes at this hop` : "";
  cell.className = drops ? "num mtu-cell" : "num";
  row.tr.classList.toggle("mtu-drop", drops);
}

function fillHosts(cell, hosts, tool) {
  cell.replaceChildren();
  if (hosts.length === 0) {
    cell.textContent = tool.silent; // as the tool itself marks a hop that did not answer
    cell.classList.add("silent");
  } else {
    cell.classList.remove("silent");
    for (const host of hosts) cell.append(hostButton(host), ...whois(host));
  }
}

export function hostButton(host) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "host";
  if (host.name) {
    button.textContent = `${host.name} `;
    const address = document.createElement("span");
    address.className = "address";
    address.textContent = `(${host.address})`;
    button.append(address);
  } else {
    button.textContent = host.address;
  }
  button.title = `Make ${host.address} the target`;
  button.addEventListener("click", () => {
    ui.target.value = host.address;
    ui.target.focus();
    announce(`Target set to ${host.address}.`);
  });
  return button;
}

// Who the address belongs to, where the server's databases know: "AS64500 Example Net · NL".
export function whois(host) {
  const parts = [];
  if (host.asn) parts.push(host.as_name ? `AS${host.asn} ${host.as_name}` : `AS${host.asn}`);
  if (host.country) parts.push(host.country);
  if (parts.length === 0) return [];
  const line = document.createElement("span");
  line.className = "whois";
  line.textContent = parts.join(" · ");
  if (host.asn) line.dataset.asn = String(host.asn);
  if (host.country) line.dataset.country = host.country;
  return [line];
}

// Says "swipe sideways" only where the table is wider than its place (a phone, mostly).
function cueScrolling(part) {
  const wrap = part.view.hopsBody.closest(".table-wrap");
  part.view.hopsView.classList.toggle("overflows", wrap.scrollWidth > wrap.clientWidth + 1);
}

function scaleBars(part) {
  const worst = Math.max(0, ...[...part.rows.values()].map((r) => r.avg || 0));
  for (const row of part.rows.values()) {
    if (!row.bar) continue;
    const share = worst > 0 && row.avg !== null ? (row.avg / worst) * 100 : 0;
    row.bar.style.width = `${share.toFixed(1)}%`;
    row.bar.hidden = row.avg === null;
  }
}
