// The chart of a tool shown as one: round-trip time per probe on a time axis, a cross
// for each lost one, each probe's value on hover and on keyboard focus. The helpers
// (drawing, scales, niceCeiling) serve the other charts too: several nodes', a comparison's.

import { ms } from "./dom.js";
import { toolNamed } from "./params.js";

export const SVG = "http://www.w3.org/2000/svg";
export const PAD = { left: 40, right: 10, top: 10, bottom: 20 };

// An SVG drawing's elements, made in the order listed (``el``), to be put in place at once.
export function drawing() {
  const nodes = [];
  const el = (name, attrs, text) => {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    nodes.push(node);
    return node;
  };
  return { nodes, el };
}

// Where probe ``seq`` of ``total`` (x) and a time up to ``top`` ms (y) fall in a chart
// of that size: every chart of probes shares this time axis.
export function scales(width, height, total, top, pad = PAD) {
  return {
    x: (seq) => pad.left + ((seq - 0.5) / total) * (width - pad.left - pad.right),
    y: (rtt) => height - pad.bottom - (rtt / top) * (height - pad.top - pad.bottom),
  };
}

export function resetChart(view) {
  waiting.delete(view.chart); // a part of the run before, whose reply came just as this one began
  view.chart.replaceChildren();
  view.chartSummary.textContent = "";
}

// ``part``: one part of a run (its view, its replies). Every part's chart has the
// same scale of probes, so the charts of several nodes share one time axis.
export function onReply(reply, part) {
  part.replies.set(reply.seq, reply);
  watchSize(part);
  waiting.set(part.view.chart, part);
  frame ||= requestAnimationFrame(drawWaiting);
}

// A drawing replaces every mark: drawn once a frame, however many replies came in it. A
// stored run's replies all come at once, and one drawing per reply took minutes for
// a continuous run's thousands.
const waiting = new Map(); // svg -> the part to draw in it
let frame = 0;

function drawWaiting() {
  frame = 0;
  const parts = [...waiting.values()];
  waiting.clear();
  for (const part of parts) drawChart(part);
}

export function onSummary(summary, part) {
  const parts = [
    `${summary.transmitted} sent, ${summary.received} received, ${summary.loss_pct}% loss`,
  ];
  if (summary.min_ms !== undefined) {
    parts.push(`min/avg/max ${ms(summary.min_ms)} / ${ms(summary.avg_ms)} / ${ms(summary.max_ms)} ms`);
  }
  part.view.chartSummary.textContent = parts.join(" · ");
}

// The chart is drawn at the size it is shown (its viewBox its own width in pixels), so
// its text and dots keep their shape at any width; drawn again when that changes.
const HEIGHT = 180;
const CHART_PAD = { left: 52, right: 16, top: 20, bottom: 36 };
const charts = new WeakMap(); // svg -> the part it draws
let resizer = null;

function watchSize(part) {
  const svg = part.view.chart;
  const known = charts.has(svg);
  charts.set(svg, part);
  if (known) return;
  resizer ??= new ResizeObserver((entries) => {
    for (const entry of entries) {
      const drawn = charts.get(entry.target);
      // Drawn again only when its width changed: a drawing replaces every mark, and a
      // mark replaced while the pointer or the keyboard is on it loses it.
      if (drawn && drawn.replies.size && chartWidth(entry.target) !== Number(entry.target.dataset.width)) {
        drawChart(drawn);
      }
    }
  });
  resizer.observe(svg);
  // Each probe's value on hover and on keyboard focus, in one tip the chart moves about.
  for (const [name, show] of [["pointerover", true], ["focusin", true], ["pointerout", false], ["focusout", false]]) {
    svg.addEventListener(name, (event) => showTip(svg, show ? event.target.closest("[data-tip]") : null));
  }
}

function showTip(svg, mark) {
  const tip = svg.querySelector(".tip");
  if (!tip) return;
  if (!mark) {
    tip.setAttribute("visibility", "hidden");
    return;
  }
  const text = tip.querySelector("text");
  text.textContent = mark.dataset.tip;
  const width = text.getComputedTextLength() + 12;
  const { width: chartWidth } = svg.viewBox.baseVal;
  const x = Math.min(Math.max(Number(mark.dataset.x) - width / 2, 2), chartWidth - width - 2);
  // Above the probe, or below it where there is no room above: never over it.
  const above = Number(mark.dataset.y) - 30;
  const y = above >= 2 ? above : Number(mark.dataset.y) + 10;
  tip.querySelector("rect").setAttribute("width", String(width));
  tip.setAttribute("transform", `translate(${x},${y})`);
  tip.setAttribute("visibility", "visible");
}

// Round steps for an axis: 1, 2 or 5 times a power of ten, at least ``value``.
export function niceStep(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power + 1e-12) return step * power;
  return 10 * power;
}

const seconds = (t) => `${Number(t.toFixed(2))} s`;
// A continuous run's chart scrolls: it shows the last five minutes.
export const WINDOW_S = 300;

const chartWidth = (svg) => Math.max(240, Math.round(svg.clientWidth) || 600);

function drawChart(part) {
  const svg = part.view.chart;
  const width = chartWidth(svg);
  svg.dataset.width = String(width);
  const height = HEIGHT;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const pad = CHART_PAD;
  const interval = toolNamed("ping")?.interval_s || 1;
  let replies = [...part.replies.values()].sort((a, b) => a.seq - b.seq);
  const lastSeq = replies.length ? replies[replies.length - 1].seq : 1;
  // Time: probe n is sent (n - 1) intervals after the first. A run with a count spans
  // all of it from the start; a continuous one, the last WINDOW_S seconds, scrolling.
  let from = 0;
  let span = Math.max(Math.max(part.view.progress.max || 1, lastSeq) - 1, 1) * interval;
  if (part.continuous) {
    const latest = (lastSeq - 1) * interval;
    from = Math.max(0, latest - WINDOW_S);
    span = Math.max(latest - from, 10 * interval);
    replies = replies.filter((r) => (r.seq - 1) * interval >= from);
  }
  const x = (seq) => pad.left + (((seq - 1) * interval - from) / span) * (width - pad.left - pad.right);
  const rtts = replies.filter((r) => r.rtt_ms !== null).map((r) => r.rtt_ms);
  const step = Math.max(niceStep(Math.max(...rtts, 0.001) / 4), 0.01); // labels show hundredths at most
  const top = step * Math.max(1, Math.ceil(Math.max(...rtts, 0.001) / step));
  const y = (rtt) => height - pad.bottom - (rtt / top) * (height - pad.top - pad.bottom);
  const { nodes, el } = drawing();
  for (let i = 0; i * step <= top + step / 2; i += 1) {
    const value = i * step;
    el("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) });
    el("text", { class: "tick", x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, ms(value));
  }
  el("text", { class: "unit", x: pad.left - 6, y: pad.top - 8, "text-anchor": "end" }, "ms");
  const timeStep = niceStep(span / Math.max(1, Math.floor((width - pad.left - pad.right) / 70)));
  for (let i = Math.ceil(from / timeStep - 1e-9); i * timeStep <= from + span + 1e-9; i += 1) {
    const t = i * timeStep;
    const tx = x(t / interval + 1);
    el("line", { class: "tick-mark", x1: tx, x2: tx, y1: height - pad.bottom, y2: height - pad.bottom + 4 });
    el("text", { class: "tick", x: tx, y: height - pad.bottom + 16, "text-anchor": "middle" }, seconds(t));
  }
  el("line", { class: "axis", x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom });
  el("text", { class: "unit", x: width - pad.right, y: height - 4, "text-anchor": "end" }, "time since the first probe");
  const answered = replies.filter((r) => r.rtt_ms !== null);
  if (answered.length > 1) {
    el("polyline", { class: "line", points: answered.map((r) => `${x(r.seq)},${y(r.rtt_ms)}`).join(" ") });
  }
  for (const reply of replies) {
    const at = seconds((reply.seq - 1) * interval);
    if (reply.rtt_ms !== null) {
      const words = `#${reply.seq} at ${at}: ${reply.rtt_ms} ms`;
      const cy = y(reply.rtt_ms);
      el("circle", { class: "point", cx: x(reply.seq), cy, r: 4, tabindex: 0, role: "img", "aria-label": words,
        "data-tip": words, "data-x": x(reply.seq), "data-y": cy });
    } else {
      // A lost probe: a cross on the time axis, where its answer would be.
      const cx = x(reply.seq);
      const cy = height - pad.bottom - 7;
      const words = `#${reply.seq} at ${at}: ${reply.error || "lost"}`;
      el("path", { class: "lost", d: `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx + 5},${cy - 5}L${cx - 5},${cy + 5}`,
        tabindex: 0, role: "img", "aria-label": words, "data-tip": words, "data-x": cx, "data-y": cy });
    }
  }
  const tip = el("g", { class: "tip", visibility: "hidden", "aria-hidden": "true" });
  const box = document.createElementNS(SVG, "rect");
  for (const [k, v] of Object.entries({ x: 0, y: 0, rx: 4, height: 22 })) box.setAttribute(k, String(v));
  const label = document.createElementNS(SVG, "text");
  for (const [k, v] of Object.entries({ x: 6, y: 15 })) label.setAttribute(k, String(v));
  tip.append(box, label);
  const focused = svg.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
  svg.replaceChildren(...nodes);
  if (focused) {
    // Drawn again while a probe had focus (a new reply, a resize): it keeps it.
    const again = [...svg.querySelectorAll("[data-tip]")].find((mark) => mark.getAttribute("aria-label") === focused);
    if (again) again.focus();
  }
}

export function titled(text) {
  const title = document.createElementNS(SVG, "title");
  title.textContent = text;
  return title;
}

export function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}
