// How a run's parts look: each part's view (the only one, or one per node, cloned
// from the template's), reset and filled as its events arrive; the result's link.
// Which views a part shows comes from its tool's record (view: chart, hops or lines).

import { resetChart } from "./chart.js";
import { mainView, ui, viewOf } from "./dom.js";
import { resetHops, showColumns } from "./hops.js";
import {
  localName, nodeInfo, nodesOf, permalink, resultFormatUrl, resultUrl, textUrl, toolNamed,
} from "./params.js";
import { reportText } from "./report.js";

export function newPart(view) {
  // hops: each hop's latest row as the server sent it (the table's rows are drawn from them).
  // history: mtr's recent cycles per hop (hops.js); continuous: a run until Stop (its progress is time).
  const part = { view, rows: new Map(), hops: new Map(), replies: new Map(), history: new Map(), cycles: 0,
    address: null, ended: false, report: false, continuous: false, startedAt: new Date() };
  // Opening the raw view of a tool shown by its report draws the report as it stands.
  view.output.closest("details").ontoggle = () => showReport(part);
  return part;
}

// A node's part that never began (refused, unavailable): its sentence and nothing of a run.
export function showNotRun(view) {
  for (const el of [view.meta, view.progressRow, view.hopsView, view.chartView, view.output.closest("details")]) {
    if (el) el.hidden = true;
  }
}

// A node's part: a copy of the template's, its ids made its own.
export function partView(node) {
  const part = mainView.part.cloneNode(true);
  part.removeAttribute("id");
  part.hidden = false; // the template's own is hidden while there are several
  part.dataset.node = node;
  for (const el of part.querySelectorAll("[id]")) el.id = `${el.id}--${node}`;
  for (const el of part.querySelectorAll("[for]")) el.htmlFor = `${el.htmlFor}--${node}`;
  for (const el of part.querySelectorAll("[aria-labelledby]")) {
    el.setAttribute("aria-labelledby", `${el.getAttribute("aria-labelledby")}--${node}`);
  }
  const view = viewOf(part);
  view.title.hidden = false;
  view.name.textContent = node;
  view.info.textContent = nodeInfo(node);
  ui.parts.append(part);
  return view;
}

// The result's own link (and, on its page, when and where it was taken), and "Run again".
export function showAbout(id, words) {
  const link = resultUrl(id);
  ui.taken.textContent = `${words} `;
  if (words === "Saved as") {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.id = "result-link";
    anchor.textContent = link.pathname.split("/").slice(-2).join("/");
    ui.taken.append(anchor);
  }
  ui.resultAbout.hidden = false;
  ui.resultAbout.dataset.link = link.href;
}

export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

// The link to share: the run's result where it has one, else the permalink that runs it again.
export function shareLink() {
  return ui.resultAbout.hidden ? location.href : ui.resultAbout.dataset.link;
}

// The result shows once its run says something: a run refused or never begun leaves
// no empty command, progress bar, table or buttons under its sentence.
export function resetResult(params) {
  ui.result.hidden = true;
  ui.resultAbout.hidden = true;
  ui.taken.textContent = "";
  ui.runAgain.href = permalink(params);
  for (const part of [...ui.parts.querySelectorAll(".part")]) if (part !== mainView.part) part.remove();
  const several = Boolean(nodesOf(params));
  ui.parts.classList.toggle("several", several);
  mainView.part.hidden = several;
  ui.textLink.href = textUrl(params).href;
  ui.downloads.hidden = true;
  ui.downloads.open = false;
  ui.downloadList.textContent = "";
  resetView(mainView, params);
}

// A kept result's text is read back, not run again: "Plain text" spends no run.
export function showStoredText(id) {
  ui.textLink.href = resultFormatUrl(id, "text").href;
}

// A finished run's result as files, in the formats its tool's record lists.
export function showDownloads(id, tool) {
  const formats = (toolNamed(tool) || { formats: [] }).formats;
  ui.downloadList.replaceChildren(...formats.map(({ name, label }) => {
    const item = document.createElement("li");
    const anchor = document.createElement("a");
    anchor.href = resultFormatUrl(id, name).href;
    anchor.download = "";
    anchor.dataset.format = name;
    anchor.textContent = label;
    item.append(anchor);
    return item;
  }));
  ui.downloads.hidden = formats.length === 0;
  showStoredText(id);
}

function resetView(view, params) {
  view.metaText.textContent = `${params.tool} to ${params.target}`;
  view.command.textContent = "";
  view.output.textContent = "";
  view.recordsOutput.textContent = "";
  view.status.hidden = true;
  view.status.textContent = "";
  view.meta.hidden = false;
  view.output.closest("details").hidden = false;
  resetHops(view);
  resetChart(view);
  showViews(view, params.tool);
  view.progress.max = 1;
  view.progress.value = 0;
  view.progressLabel.textContent = "Progress";
}

// A continuous run keeps its latest lines on the page, not every one of ten minutes of them.
const CONTINUOUS_LINES = 2000;

export function onLine(data, part) {
  const pre = part.report ? part.view.recordsOutput : part.view.output;
  pre.append(document.createTextNode(`${data.text}\n`));
  if (part.continuous && pre.childNodes.length > CONTINUOUS_LINES) pre.firstChild.remove();
}

// A tool whose lines are records (mtr): its raw view is its report, drawn while it is open.
export function showReport(part, { now = false } = {}) {
  if (!part.report || !(now || part.view.output.closest("details").open)) return;
  part.view.output.textContent = reportText(part.hops, part.view.part.dataset.node || localName(), part.startedAt,
    part.continuous ? part.cycles : null);
}

export function onProgress(data, part) {
  if (data.max_s !== undefined) {
    // A continuous run: the time it has run, against the most it may.
    part.continuous = true;
    part.view.progress.max = data.max_s;
    part.view.progress.value = data.elapsed_s;
    part.view.progressLabel.textContent = `Running for ${clock(data.elapsed_s)} of at most ${clock(data.max_s)}`;
    return;
  }
  part.view.progress.max = data.total;
  part.view.progress.value = data.done;
  part.view.progressLabel.textContent = `${data.done} of ${data.total}`;
}

// 83 -> "1:23", 4000 -> "1:06:40".
export function clock(seconds) {
  const whole = Math.floor(seconds);
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

// Every part's output (mtr's: its report), each under its node's name when there are several.
export function outputText(run) {
  const parts = run ? [...run.parts.values()] : [];
  for (const part of parts) showReport(part, { now: true });
  const text = (part) => part.view.output.textContent;
  if (parts.length === 1 && !parts[0].view.part.dataset.node) return text(parts[0]);
  return parts.map((part) => `[${part.view.part.dataset.node}]\n${text(part)}`).join("\n");
}

// The views its tool's output is shown in: the hop table, the chart, the lines alone;
// progress where it has a count to go by.
export function showViews(view, tool) {
  const spec = toolNamed(tool) || { view: "lines", count: false };
  view.hopsView.hidden = spec.view !== "hops";
  view.chartView.hidden = spec.view !== "chart";
  view.progressRow.hidden = !spec.count;
  showColumns(view, spec);
  view.records.hidden = !spec.report;
  view.records.open = false;
  // A tool shown as its lines alone has them open; the others keep them folded under their view.
  const raw = view.output.closest("details");
  if (raw) raw.open = spec.view === "lines";
}
