// One run on the page: its EventSource, its events, and how it ends.
// The run in progress changes in two places only: start() begins one, endRun() ends it.

import { onReply, onSummary, resetChart } from "./chart.js";
import { announce, sentence, showError, ui } from "./dom.js";
import { onHop, onTrim, resetHops } from "./hops.js";
import { apiUrl, paramsFromResult, permalink, resultEventsUrl, resultUrl, textUrl } from "./params.js";

let current = null; // { source, params, started, rows, replies, result, lastId, retries }

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
  const run = { source: null, params, started: false, rows: new Map(), replies: new Map(),
    result: null, lastId: 0, retries: 0, following: false };
  current = run;
  return run;
}

function listen(run, url) {
  const source = new EventSource(url);
  run.source = source;
  const on = (name, handler) =>
    source.addEventListener(name, (event) => {
      if (current !== run || run.source !== source) return;
      run.lastId = Number(event.lastEventId) || run.lastId;
      run.retries = 0;
      handler(JSON.parse(event.data), run);
    });
  on("start", onStart);
  on("line", onLine);
  on("reply", onReply);
  on("summary", onSummary);
  on("hop", onHop);
  on("trim", onTrim);
  on("progress", onProgress);
  on("end", onEnd);
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
  endRun(current); // closing the stream makes the server end the tool's process group
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
  ui.metaText.textContent = `${params.tool} to ${params.target}`;
  ui.command.textContent = "";
  ui.output.textContent = "";
  resetHops();
  resetChart();
  ui.hopsView.hidden = params.tool === "ping";
  ui.pingView.hidden = params.tool !== "ping";
  ui.progressRow.hidden = params.tool === "traceroute";
  ui.progress.max = 1;
  ui.progress.value = 0;
  ui.progressLabel.textContent = "Progress";
  ui.textLink.href = textUrl(params).href;
}

function onStart(data, run) {
  run.started = true;
  if (data.result && !run.following) {
    run.result = data.result;
    showAbout(data.result, "Saved as");
  }
  ui.metaText.textContent = `${data.tool} to ${data.target} (${data.address}):`;
  ui.command.textContent = data.command;
  announce(`Running ${data.tool} to ${data.target} (${data.address}).`);
}

function onLine(data) {
  ui.output.append(document.createTextNode(`${data.text}\n`));
}

function onProgress(data) {
  ui.progress.max = data.total;
  ui.progress.value = data.done;
  ui.progressLabel.textContent = `${data.done} of ${data.total}`;
}

function onEnd(data, run) {
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
