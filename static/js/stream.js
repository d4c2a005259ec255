// One run on the page: its EventSource, its events, and how it ends.
// The run in progress changes in two places only: start() begins one, endRun() ends it.
// A run has parts: its only one, or with nodes= one per node, each shown in a view
// of its own (dom.js) and each with its own start ... end; "done" ends them all.

import { onReply, onSummary } from "./chart.js";
import { compareLive, hideComparison } from "./compare.js";
import { announce, mainView, sentence, showError, ui } from "./dom.js";
import { onCycle, onHop, onHopsSummary, onTrim } from "./hops.js";
import { drawPaths, resetPaths, schedulePaths, sideBySide } from "./paths.js";
import { drawnTogether, drawSeveral, resetSeveral } from "./several.js";
import { apiUrl, nodesOf, paramsFromResult, permalink, resultEventsUrl, toolNamed } from "./params.js";
import {
  newPart, onLine, onProgress, partView, resetResult, showAbout, showDownloads, showNotRun, showReport, showStoredText,
  showViews, when,
} from "./parts.js";

let current = null; // { source, params, started, parts, several, result, lastId, retries, following }
let shown = null; // the run on the page, running or not: what "Copy output" copies

// Reconnections to a run's result after its stream broke off, before giving up.
const RESUME_ATTEMPTS = 4;

// ``compareWith``: a stored result's id, laid against this run's result as it streams.
export function start(params, { push, compareWith = null }) {
  stop({ quiet: true });
  showError("");
  if (!compareWith) hideComparison();
  if (!params.target) {
    showError("Type a host name or an IP address to run against.");
    ui.target.focus();
    return;
  }
  if (push) history.pushState(params, "", permalink(params));
  resetResult(params);
  setRunning(true);
  announce(`Starting ${params.tool} to ${params.target}…`);
  const run = newRun(params);
  run.compareWith = compareWith;
  listen(run, apiUrl(params));
}

// A stored result, shown as a live run is (and live, while it still runs).
export function follow(result) {
  stop({ quiet: true });
  showError("");
  const params = paramsFromResult(result);
  resetResult(params);
  showAbout(result.id, `Taken ${when(result.started_at)} on ${result.node}.`);
  showStoredText(result.id);
  setRunning(true);
  announce(`Showing the result of ${params.tool} to ${params.target}…`);
  const run = newRun(params);
  for (const part of run.parts.values()) part.startedAt = new Date(result.started_at);
  run.result = result.id;
  run.following = true;
  listen(run, resultEventsUrl(result.id, 0));
}

function newRun(params) {
  const several = nodesOf(params);
  const parts = new Map();
  if (several) {
    for (const node of several) parts.set(node, newPart(partView(node)));
  } else {
    parts.set("", newPart(mainView));
  }
  const run = { source: null, params, started: false, parts, several: Boolean(several), result: null, lastId: 0,
    retries: 0, following: false };
  for (const part of parts.values()) part.report = Boolean(toolNamed(params.tool)?.report);
  current = run;
  shown = run;
  resetSeveral(run, toolNamed(params.tool));
  resetPaths(run, toolNamed(params.tool));
  return run;
}

// The part an event belongs to: its node's, or the only one.
function partOf(run, data) {
  if (!run.several) return run.parts.get("");
  let part = run.parts.get(data.node);
  if (!part) {
    part = newPart(partView(String(data.node)));
    part.report = Boolean(toolNamed(run.params.tool)?.report);
    showViews(part.view, run.params.tool);
    run.parts.set(data.node, part);
    if (drawnTogether(run, toolNamed(run.params.tool))) part.view.chartView.hidden = true;
    if (sideBySide(run, toolNamed(run.params.tool))) part.view.hopsView.hidden = true;
  }
  return part;
}

function listen(run, url) {
  const source = new EventSource(url);
  run.source = source;
  const on = (name, handler) =>
    source.addEventListener(name, (event) => {
      if (current !== run || run.source !== source) return;
      run.lastId = Number(event.lastEventId) || run.lastId;
      run.retries = 0;
      ui.result.hidden = false;
      const data = JSON.parse(event.data);
      handler(data, partOf(run, data), run);
    });
  on("start", onStart);
  on("line", onLine);
  // ping from several nodes is drawn together too, as each node's replies come.
  const together = (r) => drawnTogether(r, toolNamed(r.params.tool));
  on("reply", (data, part, r) => {
    onReply(data, part);
    if (together(r)) drawSeveral(r);
  });
  // A summary is the chart's (ping's statistics) or the hop table's (tracepath's path MTU).
  on("summary", (data, part, r) => {
    part.summary = { ...part.summary, ...data };
    (toolNamed(r.params.tool)?.view === "hops" ? onHopsSummary : onSummary)(data, part);
    if (together(r)) drawSeveral(r);
  });
  // From several nodes a tool shown as hops is drawn side by side (paths.js), else in the part's table.
  on("hop", (data, part, r) => {
    part.hops.set(data.hop, data);
    showReport(part);
    if (sideBySide(r, toolNamed(r.params.tool))) schedulePaths(r);
    else onHop(data, part, toolNamed(r.params.tool));
  });
  on("trim", (data, part, r) => {
    for (const hop of [...part.hops.keys()]) if (hop > data.hops) part.hops.delete(hop);
    if (sideBySide(r, toolNamed(r.params.tool))) schedulePaths(r);
    else onTrim(data, part);
  });
  on("cycle", (data, part, r) => {
    onCycle(data, part); // the part's history, and its own table's row where it has one
    if (sideBySide(r, toolNamed(r.params.tool))) schedulePaths(r);
  });
  on("progress", onProgress);
  on("end", onEnd);
  source.addEventListener("done", (event) => {
    if (current !== run || run.source !== source) return;
    run.lastId = Number(event.lastEventId) || run.lastId;
    onDone(JSON.parse(event.data), run);
  });
  source.addEventListener("incomplete", (event) => {
    // A stored result whose run stopped before its end was stored: nothing more will come.
    if (current !== run || run.source !== source) return;
    const { message } = JSON.parse(event.data);
    endRun(run);
    announce(message);
    showError(message);
  });
  source.addEventListener("error", () => {
    if (current !== run || run.source !== source) return;
    source.close();
    if (run.result && run.retries < RESUME_ATTEMPTS) {
      // The stream broke off (a network blip, a proxy's timeout): pick the run up
      // again from its result, after the last event shown, so nothing is lost or repeated.
      run.retries += 1;
      announce("The connection was interrupted; resuming…");
      setTimeout(() => {
        if (current === run) listen(run, resultEventsUrl(run.result, run.lastId));
      }, 250 * 2 ** run.retries);
      return;
    }
    endRun(run);
    if (run.started) {
      announce("The connection to the server was lost.");
      showError("The connection to the server was lost before the run finished.");
    } else if (run.following) {
      announce("The result could not be loaded.");
      showError("The result could not be loaded. Please try again.");
    } else {
      explainRefusal(run.params);
    }
  });
}

// The run on the page (running, ended or stopped), or null.
export function shownRun() {
  return shown;
}

export function stop({ quiet = false } = {}) {
  if (!current) return;
  const { params } = current;
  if (current.several && !quiet) {
    // Each part still running says so in its own place, as one that ended would.
    for (const part of current.parts.values()) {
      if (part.ended) continue;
      part.view.status.textContent = "Stopped.";
      part.view.status.classList.add("bad");
      part.view.status.hidden = false;
    }
  }
  endRun(current); // closing the stream makes the server end the tool's process group (on every node)
  if (!quiet) announce(`Stopped ${params.tool} to ${params.target}.`);
}

// The one way a run ends on the page, whatever ended it.
function endRun(run) {
  if (run.source) run.source.close();
  if (current === run) current = null;
  setRunning(false);
  if (run.result) showDownloads(run.result, run.params.tool);
}

function setRunning(running) {
  ui.run.disabled = running;
  ui.stop.disabled = !running;
  if (!running) setContinuous(false);
  ui.form.setAttribute("aria-busy", running ? "true" : "false");
}

async function explainRefusal(params) {
  // EventSource cannot see why the server refused; ask the check route, which runs nothing.
  try {
    const response = await fetch(apiUrl(params, "/check"), { headers: { Accept: "application/json" } });
    if (response.ok) {
      announce("Could not connect.");
      showError("Could not connect to the server. Please try again.");
      return;
    }
    const body = await response.json().catch(() => null);
    let message = body && body.error ? body.error.message : `The server answered ${response.status}.`;
    message = sentence(message);
    const retry = response.headers.get("Retry-After");
    if (retry && !/try again/i.test(message)) message += ` Try again in ${retry} s.`;
    announce("The run was refused.");
    showError(message);
  } catch {
    announce("Could not connect.");
    showError("Could not reach the server. Check your connection and try again.");
  }
}

// A continuous run goes on until Stop: the button says so, and stands out.
function setContinuous(on) {
  ui.stop.classList.toggle("prominent", on);
  ui.stop.textContent = on ? "Stop the run" : "Stop";
}

function onStart(data, part, run) {
  run.started = true;
  if (data.continuous) {
    part.continuous = true;
    if (current === run && !run.following) setContinuous(true);
  }
  if (data.result && !run.following && ui.resultAbout.hidden) {
    run.result = data.result;
    showAbout(data.result, "Saved as");
    if (run.compareWith) compareLive(run.compareWith, data.result);
  }
  // A node's part that ended before its node began it has no address (its end says why).
  part.view.metaText.textContent = data.address ? `${data.tool} to ${data.target} (${data.address}):` : "";
  part.view.command.textContent = data.command || "";
  if (!data.address) return;
  part.started = true;
  part.address = data.address;
  if (sideBySide(run, toolNamed(run.params.tool))) schedulePaths(run);
  if (!run.several) announce(`Running ${data.tool} to ${data.target} (${data.address}).`);
  else announceParts(run);
}

function onEnd(data, part, run) {
  part.ended = true;
  if (run.several) {
    // One node's part: its own status, in its own place; the run goes on until "done".
    const words = data.status === "ok" ? `Finished in ${data.duration_s.toFixed(1)} s.` : sentence(data.message);
    part.view.status.textContent = words;
    part.view.status.classList.toggle("bad", data.status !== "ok");
    part.view.status.hidden = false;
    if (!part.started) showNotRun(part.view);
    announceParts(run);
    if (drawnTogether(run, toolNamed(run.params.tool))) drawSeveral(run);
    if (sideBySide(run, toolNamed(run.params.tool))) schedulePaths(run);
    return;
  }
  endRun(run);
  if (data.status === "ok") {
    announce(`Finished in ${data.duration_s.toFixed(1)} s.`);
  } else if (data.status === "timeout" && part.continuous) {
    announce(sentence(data.message));  // a continuous run's most: how it ends, no failure
  } else if (data.status === "timeout") {
    announce(sentence(data.message));
    showError(`${sentence(data.message)} The results so far are shown.`);
  } else {
    announce(sentence(data.message));
    showError(sentence(data.message));
  }
}

// A run from several nodes, as it goes: "Running mtr to example.net from 3 nodes: 2 of 3 finished."
function announceParts(run) {
  const parts = [...run.parts.values()];
  const finished = parts.filter((part) => part.ended).length;
  announce(`Running ${run.params.tool} to ${run.params.target} from ${parts.length} nodes: `
    + `${finished} of ${parts.length} finished.`);
}

function onDone(data, run) {
  endRun(run);
  if (sideBySide(run, toolNamed(run.params.tool))) drawPaths(run);
  const words = { ok: "every node finished", partial: "some nodes did not finish", failed: "no node finished" };
  announce(`Done: ${words[data.status] || data.status}.`);
}

