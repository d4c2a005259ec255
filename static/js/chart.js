// The chart of a tool shown as one: round-trip time per probe, a cross for each lost one.
// Its size is the template's (the SVG's viewBox), read as it is drawn.

import { ms } from "./dom.js";

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
  view.chart.replaceChildren();
  view.chartSummary.textContent = "";
}

// ``part``: one part of a run (its view, its replies). Every part's chart has the
// same scale of probes, so the charts of several nodes share one time axis.
export function onReply(reply, part) {
  part.replies.set(reply.seq, reply);
  drawChart(part);
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

function drawChart(part) {
  const { width, height } = part.view.chart.viewBox.baseVal;
  const replies = [...part.replies.values()].sort((a, b) => a.seq - b.seq);
  const total = Math.max(part.view.progress.max || 1, replies.length ? replies[replies.length - 1].seq : 1);
  const rtts = replies.filter((r) => r.rtt_ms !== null).map((r) => r.rtt_ms);
  const top = niceCeiling(Math.max(...rtts, 0.001));
  const { x, y } = scales(width, height, total, top);
  const { nodes, el } = drawing();
  el("line", { class: "axis", x1: PAD.left, y1: height - PAD.bottom, x2: width - PAD.right, y2: height - PAD.bottom });
  el("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: height - PAD.bottom });
  el("text", { x: 2, y: PAD.top + 8 }, `${ms(top)}`);
  el("text", { x: 2, y: height - PAD.bottom }, "0");
  el("text", { x: width - PAD.right - 60, y: height - 4 }, `${total} probes`);
  const answered = replies.filter((r) => r.rtt_ms !== null);
  if (answered.length > 1) {
    el("polyline", { class: "line", points: answered.map((r) => `${x(r.seq)},${y(r.rtt_ms)}`).join(" ") });
  }
  for (const reply of replies) {
    if (reply.rtt_ms !== null) {
      const dot = el("circle", { class: "point", cx: x(reply.seq), cy: y(reply.rtt_ms), r: 3.5 });
      dot.append(titled(`#${reply.seq}: ${reply.rtt_ms} ms`));
    } else {
      const cx = x(reply.seq);
      const cy = height - PAD.bottom - 6;
      const lost = el("path", { class: "lost", d: `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx + 5},${cy - 5}L${cx - 5},${cy + 5}` });
      lost.append(titled(`#${reply.seq}: ${reply.error || "lost"}`));
    }
  }
  part.view.chart.replaceChildren(...nodes);
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
