// One run on the page: its EventSource, its events, and how it ends.
// The run in progress changes in two places only: start() begins one, endRun() ends it.

import { onReply, onSummary, resetChart } from "./chart.js";
import { announce, sentence, showError, ui } from "./dom.js";
import { onHop, onTrim, resetHops } from "./hops.js";
import { apiUrl, permalink, textUrl } from "./params.js";

let current = null; // { source, params, started, rows, replies }

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

  const source = new EventSource(apiUrl(params));
  const run = { source, params, started: false, rows: new Map(), replies: new Map() };
  current = run;
  const on = (name, handler) =>
    source.addEventListener(name, (event) => {
      if (current === run) handler(JSON.parse(event.data), run);
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
    if (current !== run) return;
    // EventSource would reconnect (and the server would answer 204); this run is over.
    endRun(run);
    if (run.started) {
      announce("The connection to the server was lost.");
      showError("The connection to the server was lost before the run finished.");
    } else {
      explainRefusal(params);
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
  run.source.close();
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

function resetResult(params) {
  ui.result.hidden = false;
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
