// ping from several nodes: one chart on one time axis (the probe's number), a line
// per node in a colour and a dash pattern of its own with a legend naming it, and a
// table of each node's sent, received, loss, min, avg and max. A continuous run's
// chart shows the probes of the last five minutes, scrolling, as one node's does.
// The nodes' own parts keep their status and raw output; their single charts stay
// folded away. Everything from the server is shown through textContent only.

import { drawing, niceCeiling, scales, SVG, titled, WINDOW_S } from "./chart.js";
import { ms, ui } from "./dom.js";
import { toolNamed } from "./params.js";

const PAD = { left: 44, right: 12, top: 12, bottom: 24 };
const STYLES = 6; // node-0 ... node-5 in the style sheet; more nodes take them again

// Whether a run's parts are drawn here: ping (a tool shown as a chart) from several nodes.
export function drawnTogether(run, tool) {
  return Boolean(run && run.several && tool && tool.view === "chart");
}

export function resetSeveral(run, tool) {
  const shown = drawnTogether(run, tool);
  ui.severalChart.hidden = !shown;
  ui.nodesChart.replaceChildren();
  ui.nodesLegend.replaceChildren();
  ui.nodesStats.tBodies[0].replaceChildren();
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  if (!shown) return;
  for (const part of run.parts.values()) part.view.chartView.hidden = true;
  drawNow(run);
}

// Called on every reply, summary and end of a run drawn here: drawn once a frame, as a
// stored run's thousands of replies come at once.
let frame = 0;
export function drawSeveral(run) {
  frame ||= requestAnimationFrame(() => {
    frame = 0;
    drawNow(run);
  });
}

function drawNow(run) {
  const parts = [...run.parts.entries()];
  drawChart(parts);
  drawLegend(parts);
  drawTable(parts);
}

function styleOf(index) {
  return `node-${index % STYLES}`;
}

function drawChart(parts) {
  const { width, height } = ui.nodesChart.viewBox.baseVal;
  let all = parts.flatMap(([, part]) => [...part.replies.values()]);
  const latest = all.reduce((most, r) => Math.max(most, r.seq), 1);
  // The probes shown: all of a run with a count; a continuous run's last WINDOW_S seconds.
  let first = 1;
  let total = Math.max(latest, ...parts.map(([, part]) => part.view.progress.max || 1));
  if (parts.some(([, part]) => part.continuous)) {
    const window = Math.max(10, Math.round(WINDOW_S / (toolNamed("ping")?.interval_s || 1)));
    first = Math.max(1, latest - window + 1);
    total = Math.max(latest - first + 1, 10);
    all = all.filter((r) => r.seq >= first);
  }
  const top = niceCeiling(Math.max(0.001, ...all.filter((r) => r.rtt_ms !== null).map((r) => r.rtt_ms)));
  const scaled = scales(width, height, total, top, PAD);
  const x = (seq) => scaled.x(seq - first + 1);
  const { y } = scaled;
  const { nodes, el } = drawing();
  for (const step of [0, 0.5, 1]) {
    el("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: y(top * step), y2: y(top * step) });
    el("text", { class: "axis", x: PAD.left - 4, y: y(top * step) + 4, "text-anchor": "end" }, ms(top * step));
  }
  el("text", { class: "axis", x: 4, y: PAD.top - 2 }, "ms");
  el("text", { class: "axis", x: width - PAD.right, y: height - 6, "text-anchor": "end" }, `probe ${first} to ${first + total - 1}`);
  parts.forEach(([node, part], index) => {
    const replies = [...part.replies.values()].filter((r) => r.seq >= first).sort((a, b) => a.seq - b.seq);
    const answered = replies.filter((r) => r.rtt_ms !== null);
    const style = styleOf(index);
    if (answered.length > 1) {
      el("polyline", { class: `line ${style}`, points: answered.map((r) => `${x(r.seq)},${y(r.rtt_ms)}`).join(" ") });
    }
    for (const reply of replies) {
      const cx = x(reply.seq);
      if (reply.rtt_ms !== null) {
        const dot = el("circle", { class: `point ${style}`, cx, cy: y(reply.rtt_ms), r: 3 });
        dot.append(titled(`${node} #${reply.seq}: ${reply.rtt_ms} ms`));
      } else {
        const cy = height - PAD.bottom - 6;
        const lost = el("path", { class: `lost ${style}`, d: `M${cx - 4},${cy - 4}L${cx + 4},${cy + 4}M${cx + 4},${cy - 4}L${cx - 4},${cy + 4}` });
        lost.append(titled(`${node} #${reply.seq}: ${reply.error || "lost"}`));
      }
    }
  });
  ui.nodesChart.replaceChildren(...nodes);
}

function drawLegend(parts) {
  ui.nodesLegend.replaceChildren(...parts.map(([node], index) => {
    const item = document.createElement("li");
    const swatch = document.createElementNS(SVG, "svg");
    swatch.setAttribute("viewBox", "0 0 24 8");
    swatch.setAttribute("class", "swatch");
    swatch.setAttribute("aria-hidden", "true");
    const line = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({ x1: 0, y1: 4, x2: 24, y2: 4, class: `line ${styleOf(index)}` })) {
      line.setAttribute(k, String(v));
    }
    swatch.append(line);
    item.append(swatch, document.createTextNode(node));
    return item;
  }));
}

function drawTable(parts) {
  ui.nodesStats.tBodies[0].replaceChildren(...parts.map(([node, part]) => {
    const tr = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = node;
    tr.append(name);
    if (part.ended && !part.started) {
      // A node that refused or could not be reached: its sentence in its place, no figures.
      const why = document.createElement("td");
      why.colSpan = 6;
      why.className = "why";
      why.textContent = part.view.status.textContent;
      tr.append(why);
      return tr;
    }
    const figures = statistics(part);
    for (const [value, shown] of [[figures.sent, String], [figures.received, String],
      [figures.loss, (v) => `${v}%`], [figures.min, ms], [figures.avg, ms], [figures.max, ms]]) {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = value === null || value === undefined ? "–" : shown(value);
      tr.append(td);
    }
    return tr;
  }));
}

// ping's own closing figures where it printed them, else what its replies say so far.
function statistics(part) {
  const replies = [...part.replies.values()];
  const rtts = replies.filter((r) => r.rtt_ms !== null).map((r) => r.rtt_ms);
  const summary = part.summary || {};
  const sent = summary.transmitted ?? replies.length;
  const received = summary.received ?? rtts.length;
  return {
    sent,
    received,
    loss: summary.loss_pct ?? (sent ? Math.round((1000 * (sent - received)) / sent) / 10 : null),
    min: summary.min_ms ?? (rtts.length ? Math.min(...rtts) : null),
    avg: summary.avg_ms ?? (rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null),
    max: summary.max_ms ?? (rtts.length ? Math.max(...rtts) : null),
  };
}
