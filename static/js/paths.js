// traceroute, mtr (any tool shown as hops) from several nodes: the paths side by side.
// One aligned table, a row per hop and a column per node: its host(s) with AS and
// country, loss and average, and for mtr each node's sparkline of its recent cycles
// at that hop (as in one node's table). A hop where every node answered from the same
// address(es) shows them once, as shared; each node's hop where the paths join (where
// the part they all share to the end begins) is marked. Above it a summary per node:
// hops to the target, loss and average there (the best marked), its AS path as chips.
// A node that refused or could not be reached has its sentence in the summary and no
// column. Drawn at most once a frame however many hops arrive, and an update replaces
// only the cells that changed, so a focused host keeps its focus while mtr runs.
// Everything from the server is shown through textContent only.

import { ms, ui } from "./dom.js";
import { drawHistory, hostButton, whois } from "./hops.js";

const MEASURE = "webtrace:paths"; // a performance measure per drawing, for the page benchmark

let drawn = { columns: "", rows: new Map() };
let silent = "no reply"; // how the tool marks a hop that did not answer
let frame = 0;

// Whether a run's parts are laid side by side here: a tool shown as hops, from several nodes.
export function sideBySide(run, tool) {
  return Boolean(run && run.several && tool && tool.view === "hops");
}

export function resetPaths(run, tool) {
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  drawn = { columns: "", rows: new Map() };
  silent = (tool && tool.silent) || "no reply";
  const shown = sideBySide(run, tool);
  ui.pathsView.hidden = !shown;
  ui.pathsSummary.tBodies[0].replaceChildren();
  ui.pathsTable.tHead.replaceChildren();
  ui.pathsTable.tBodies[0].replaceChildren();
  ui.pathsJoin.textContent = "";
  if (!shown) return;
  for (const part of run.parts.values()) part.view.hopsView.hidden = true;
  drawPaths(run);
}

// Hops arrive a hundred a second from four nodes running mtr: drawn once a frame.
export function schedulePaths(run) {
  if (!frame) frame = requestAnimationFrame(() => drawPaths(run));
}

export function drawPaths(run) {
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  performance.mark(MEASURE);
  const paths = pathsOf(run);
  drawSummary(paths);
  drawJoin(paths);
  drawTable(paths);
  performance.measure(MEASURE, MEASURE);
  performance.clearMarks(MEASURE);
  performance.clearMeasures(MEASURE); // an observer has it; the page keeps none
}

// ---- what the parts say, as plain data ----

function pathsOf(run) {
  const nodes = [...run.parts.entries()].map(([node, part], index) => {
    const hops = [...part.hops.values()].sort((a, b) => a.hop - b.hop);
    return { node, part, index, hops, ran: !(part.ended && !part.started), target: targetHop(part, hops) };
  });
  const columns = nodes.filter((n) => n.ran);
  const numbers = [...new Set(columns.flatMap((n) => n.hops.map((h) => h.hop)))].sort((a, b) => a - b);
  const joins = joinsOf(columns);
  return { nodes, columns, numbers, joins, best: bestOf(nodes), ended: [...run.parts.values()].every((p) => p.ended) };
}

const addressesOf = (hop) => hop.hosts.map((h) => h.address);

// The first hop whose hosts include the address the node probed, or null.
function targetHop(part, hops) {
  if (!part.address) return null;
  return hops.find((hop) => addressesOf(hop).includes(part.address)) || null;
}

// Each node's hop where the paths join: where the run of hops it shares with every
// other node, to the end of its path, begins. Hops that did not answer pass through.
function joinsOf(columns) {
  const joins = new Map();
  if (columns.length < 2) return joins;
  const sets = columns.map((n) => new Set(n.hops.flatMap(addressesOf)));
  const common = new Set([...sets[0]].filter((address) => sets.every((set) => set.has(address))));
  for (const column of columns) {
    let join = null;
    for (const hop of [...column.hops].reverse()) {
      const addresses = addressesOf(hop);
      if (addresses.length === 0) continue;
      if (!addresses.every((address) => common.has(address))) break;
      join = hop;
    }
    if (join) joins.set(column.node, { hop: join.hop, address: addressesOf(join)[0] });
  }
  return joins.size === columns.length ? joins : new Map();
}

// The node with the lowest average at the target, of two or more that reached it.
function bestOf(nodes) {
  const reached = nodes.filter((n) => n.target && n.target.avg_ms !== null && n.target.avg_ms !== undefined);
  if (reached.length < 2) return null;
  return reached.reduce((a, b) => (b.target.avg_ms < a.target.avg_ms ? b : a)).node;
}

// Its AS numbers in the order the path meets them, each once.
function asPath(hops) {
  const seen = new Map();
  for (const hop of hops) {
    for (const host of hop.hosts) if (host.asn && !seen.has(host.asn)) seen.set(host.asn, host.as_name || "");
  }
  return [...seen];
}

// ---- the summary: a row per node ----

function drawSummary(paths) {
  ui.pathsSummary.tBodies[0].replaceChildren(...paths.nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.node;
    const name = cell("th", n.node);
    name.scope = "row";
    name.className = `node-name node-${n.index % 6}`;
    tr.append(name);
    if (!n.ran) {
      // A node that refused or could not be reached: its sentence in its place, no figures.
      const why = cell("td", n.part.view.status.textContent);
      why.colSpan = 4;
      why.className = "why";
      tr.append(why);
      return tr;
    }
    const reached = n.target;
    const hops = reached ? String(reached.hop) : n.part.ended ? "not reached" : "–";
    tr.append(cell("td", hops, "num"), cell("td", reached ? lossText(reached) : "–", "num"),
      cell("td", reached ? `${ms(reached.avg_ms)} ms` : "–", "num"), chips(asPath(n.hops)));
    if (paths.best === n.node) {
      tr.classList.add("best");
      const tag = cell("span", "best", "tag");
      name.append(" ", tag);
    }
    return tr;
  }));
}

function chips(path) {
  const td = document.createElement("td");
  if (path.length === 0) {
    td.textContent = "–";
    return td;
  }
  const list = document.createElement("ul");
  list.className = "as-path";
  for (const [asn, name] of path) {
    const chip = cell("li", `AS${asn}`, "chip");
    if (name) chip.title = name;
    list.append(chip);
  }
  td.append(list);
  return td;
}

// ---- where the paths join, in words ----

function drawJoin(paths) {
  let words = "";
  if (paths.columns.length > 1 && paths.joins.size) {
    const hops = new Set([...paths.joins.values()].map((j) => j.hop));
    const [first] = paths.joins.values();
    words = hops.size === 1
      ? `The paths join at hop ${first.hop} (${first.address}).`
      : `The paths join at ${first.address}: ${[...paths.joins].map(([node, j]) => `hop ${j.hop} from ${node}`).join(", ")}.`;
  } else if (paths.columns.length > 1 && paths.ended) {
    words = "The paths share no address to the end.";
  }
  ui.pathsJoin.textContent = words;
}

// ---- the aligned table ----

function drawTable(paths) {
  const key = paths.columns.map((n) => n.node).join("\n");
  if (key !== drawn.columns) {
    drawn = { columns: key, rows: new Map() };
    ui.pathsTable.tBodies[0].replaceChildren();
    drawHead(paths.columns);
  }
  const body = ui.pathsTable.tBodies[0];
  let at = body.firstElementChild;
  const keep = new Set();
  for (const number of paths.numbers) {
    const { row, old } = rowFor(number, paths);
    keep.add(number);
    if (old) {
      old[0].before(...row.trs);
      if (old.includes(at)) at = row.trs[0];
      for (const tr of old) tr.remove();
    }
    for (const tr of row.trs) {
      if (at === tr) at = at.nextElementSibling;
      else body.insertBefore(tr, at);
    }
  }
  for (const [number, row] of drawn.rows) {
    if (keep.has(number)) continue;
    for (const tr of row.trs) tr.remove();
    drawn.rows.delete(number);
  }
}

function drawHead(columns) {
  const tr = document.createElement("tr");
  const hop = cell("th", "Hop", "num hop");
  hop.scope = "col";
  tr.append(hop);
  for (const n of columns) {
    const th = cell("th", n.node, `node-name node-${n.index % 6}`);
    th.scope = "col";
    tr.append(th);
  }
  ui.pathsTable.tHead.replaceChildren(tr);
}

// A hop's row(s), made again only when its shape changes (shared or not, which hosts),
// its figures written in place.
function rowFor(number, paths) {
  const hops = paths.columns.map((n) => n.hops.find((h) => h.hop === number) || null);
  const shared = sharedHosts(hops);
  const joinedHere = paths.columns.map((n) => paths.joins.get(n.node)?.hop === number);
  const shape = shared
    ? `shared ${shared.map((h) => hostKey(h)).join(" ")} ${joinedHere.some(Boolean)}`
    : hops.map((hop, i) => `${hop ? hop.hosts.map(hostKey).join(" ") : "-"} ${joinedHere[i]}`).join("|");
  let row = drawn.rows.get(number);
  let old = null;
  if (!row || row.shape !== shape) {
    old = row ? row.trs : null;
    const made = shared ? sharedRow(number, shared, paths.columns, joinedHere.some(Boolean))
      : ownRow(number, hops, paths.columns, joinedHere);
    row = { shape, ...made };
    drawn.rows.set(number, row);
  }
  hops.forEach((hop, i) => {
    fillFigures(row.figures[i], hop);
    fillHistory(row.figures[i].parentElement, number, paths.columns[i].part.history.get(number) || []);
  });
  return { row, old };
}

// The hosts every node's hop has, when they are the same everywhere; else null.
function sharedHosts(hops) {
  if (hops.length < 2 || hops.some((hop) => !hop || hop.hosts.length === 0)) return null;
  const key = (hop) => addressesOf(hop).sort().join(" ");
  return hops.every((hop) => key(hop) === key(hops[0])) ? hops[0].hosts : null;
}

const hostKey = (host) => `${host.address}/${host.name || ""}/${host.asn || ""}/${host.country || ""}`;

function hopHeader(number, rows) {
  const th = cell("th", String(number), "num hop");
  th.scope = rows > 1 ? "rowgroup" : "row";
  if (rows > 1) th.rowSpan = rows;
  return th;
}

function ownRow(number, hops, columns, joinedHere) {
  const tr = document.createElement("tr");
  tr.append(hopHeader(number, 1));
  const figures = hops.map((hop, i) => {
    const td = nodeCell(columns[i].node);
    if (joinedHere[i]) {
      td.classList.add("join");
      td.append(cell("span", "paths join", "tag"));
    }
    td.append(hostsOf(hop));
    const line = figuresLine();
    td.append(line);
    tr.append(td);
    return line;
  });
  return { trs: [tr], figures };
}

function nodeCell(node) {
  const td = document.createElement("td");
  td.className = "node-cell";
  td.dataset.node = node;
  return td;
}

function sharedRow(number, hosts, columns, joined) {
  const top = document.createElement("tr");
  top.className = "shared";
  top.append(hopHeader(number, 2));
  const both = document.createElement("td");
  both.colSpan = columns.length;
  both.className = `shared-hosts${joined ? " join" : ""}`;
  both.append(cell("span", "shared", "tag"));
  if (joined) both.append(cell("span", "paths join", "tag"));
  both.append(hostsOf({ hosts }));
  top.append(both);
  const under = document.createElement("tr");
  under.className = "shared-figures";
  const figures = columns.map((n) => {
    const td = nodeCell(n.node);
    const line = figuresLine();
    td.append(line);
    under.append(td);
    return line;
  });
  return { trs: [top, under], figures };
}

function hostsOf(hop) {
  const box = document.createElement("div");
  box.className = "cell-hosts";
  if (!hop) return box;
  if (hop.hosts.length === 0) {
    box.textContent = silent;
    box.classList.add("silent");
    return box;
  }
  for (const host of hop.hosts) box.append(hostButton(host), ...whois(host));
  return box;
}

function figuresLine() {
  const line = document.createElement("div");
  line.className = "cell-figures";
  return line;
}

function fillFigures(line, hop) {
  const words = hop ? `loss ${lossText(hop)} · avg ${ms(hop.avg_ms)} ms` : "";
  if (line.textContent !== words) line.textContent = words;
  const lossy = Boolean(hop && hop.loss_pct > 0);
  line.parentElement.classList.toggle("lossy", lossy);
  line.parentElement.classList.toggle("lost", Boolean(hop && hop.loss_pct >= 100));
}

// A node's recent cycles at this hop (mtr's), drawn again only when a cycle was added.
function fillHistory(td, number, history) {
  if (history.length === 0) return;
  const last = String(history[history.length - 1].cycle);
  if (td.dataset.cycle === last) return;
  td.dataset.cycle = last;
  let box = td.querySelector(".cell-spark");
  if (!box) {
    box = document.createElement("div");
    box.className = "cell-spark";
    td.append(box);
  }
  drawHistory(box, history, number);
}

const lossText = (hop) => `${hop.loss_pct.toFixed(1)}%`;

function cell(kind, text, className = "") {
  const el = document.createElement(kind);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}
