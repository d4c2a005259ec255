// One run on the page: its EventSource, its events, and how it ends.
// The run in progress changes in two places only: start() begins one, endRun() ends it.
// A run has parts: its only one, or with nodes= one per node, each shown in a view
// of its own (dom.js) and each with its own start ... end; "done" ends them all.

import { onReply, onSummary, resetChart } from "./chart.js";
import { announce, mainView, sentence, showError, ui, viewOf } from "./dom.js";
import { onHop, onTrim, resetHops } from "./hops.js";
import {
  apiUrl, nodeInfo, nodesOf, paramsFromResult, permalink, resultEventsUrl, resultUrl, textUrl,
} from "./params.js";

let current = null; // { source, params, started, parts, several, result, lastId, retries, following }

// Reconnections to a run's result after its stream broke off, before giving up.
const RESUME_ATTEMPTS = 4;

export function start(params, { push }) {
  stop({ quiet: true });
  showError("");
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
  listen(run, apiUrl(params));
}

// A stored result, shown as a live run is (and live, while it still runs).
export function follow(result) {
  stop({ quiet: true });
  showError("");
  const params = paramsFromResult(result);
  resetResult(params);
  showAbout(result.id, `Taken ${when(result.started_at)} on ${result.node}.`);
  setRunning(true);
  announce(`Showing the result of ${params.tool} to ${params.target}…`);
  const run = newRun(params);
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
  current = run;
  return run;
}

function newPart(view) {
  return { view, rows: new Map(), replies: new Map(), ended: false };
}

// A node's part: a copy of the template's, its ids made its own.
function partView(node) {
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

// The part an event belongs to: its node's, or the only one.
function partOf(run, data) {
  if (!run.several) return run.parts.get("");
  let part = run.parts.get(data.node);
  if (!part) {
    part = newPart(partView(String(data.node)));
    part.view.hopsView.hidden = run.params.tool === "ping";
    part.view.pingView.hidden = run.params.tool !== "ping";
    run.parts.set(data.node, part);
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
      const data = JSON.parse(event.data);
      handler(data, partOf(run, data), run);
    });
  on("start", onStart);
  on("line", onLine);
  on("reply", onReply);
  on("summary", onSummary);
  on("hop", (data, part, r) => onHop(data, part, r.params.tool));
  on("trim", onTrim);
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
}

function setRunning(running) {
  ui.run.disabled = running;
  ui.stop.disabled = !running;
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

// The result's own link (and, on its page, when and where it was taken), and "Run again".
function showAbout(id, words) {
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

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

// The link to share: the run's result where it has one, else the permalink that runs it again.
export function shareLink() {
  return ui.resultAbout.hidden ? location.href : ui.resultAbout.dataset.link;
}

function resetResult(params) {
  ui.result.hidden = false;
  ui.resultAbout.hidden = true;
  ui.taken.textContent = "";
  ui.runAgain.href = permalink(params);
  for (const part of [...ui.parts.querySelectorAll(".part")]) if (part !== mainView.part) part.remove();
  const several = Boolean(nodesOf(params));
  ui.parts.classList.toggle("several", several);
  mainView.part.hidden = several;
  ui.textLink.href = textUrl(params).href;
  resetView(mainView, params);
}

function resetView(view, params) {
  view.metaText.textContent = `${params.tool} to ${params.target}`;
  view.command.textContent = "";
  view.output.textContent = "";
  view.status.hidden = true;
  view.status.textContent = "";
  resetHops(view);
  resetChart(view);
  view.hopsView.hidden = params.tool === "ping";
  view.pingView.hidden = params.tool !== "ping";
  view.progressRow.hidden = params.tool === "traceroute";
  view.progress.max = 1;
  view.progress.value = 0;
  view.progressLabel.textContent = "Progress";
}

function onStart(data, part, run) {
  run.started = true;
  part.started = true;
  if (data.result && !run.following && ui.resultAbout.hidden) {
    run.result = data.result;
    showAbout(data.result, "Saved as");
  }
  part.view.metaText.textContent = `${data.tool} to ${data.target} (${data.address}):`;
  part.view.command.textContent = data.command;
  if (!run.several) announce(`Running ${data.tool} to ${data.target} (${data.address}).`);
}

function onLine(data, part) {
  part.view.output.append(document.createTextNode(`${data.text}\n`));
}

function onProgress(data, part) {
  part.view.progress.max = data.total;
  part.view.progress.value = data.done;
  part.view.progressLabel.textContent = `${data.done} of ${data.total}`;
}

function onEnd(data, part, run) {
  part.ended = true;
  if (run.several) {
    // One node's part: its own status, in its own place; the run goes on until "done".
    const words = data.status === "ok" ? `Finished in ${data.duration_s.toFixed(1)} s.` : sentence(data.message);
    part.view.status.textContent = words;
    part.view.status.classList.toggle("bad", data.status !== "ok");
    part.view.status.hidden = false;
    if (!part.started) part.view.metaText.textContent = "";
    return;
  }
  endRun(run);
  if (data.status === "ok") {
    announce(`Finished in ${data.duration_s.toFixed(1)} s.`);
  } else if (data.status === "timeout") {
    announce(sentence(data.message));
    showError(`${sentence(data.message)} The results so far are shown.`);
  } else {
    announce(sentence(data.message));
    showError(sentence(data.message));
  }
}

function onDone(data, run) {
  endRun(run);
  const words = { ok: "every node finished", partial: "some nodes did not finish", failed: "no node finished" };
  announce(`Done: ${words[data.status] || data.status}.`);
}

// Every part's raw output, each under its node's name when there are several.
export function outputText() {
  const parts = [...ui.parts.querySelectorAll(".part")].filter((part) => !part.hidden);
  if (parts.length === 1 && !parts[0].dataset.node) return viewOf(parts[0]).output.textContent;
  return parts.map((part) => `[${part.dataset.node}]\n${viewOf(part).output.textContent}`).join("\n");
}
