// webtrace page: runs a tool through EventSource and renders its events live.
// Everything the server or a tool sends is shown through textContent only.

const $ = (selector) => document.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";
const TOOLS = ["mtr", "traceroute", "ping"];
const FAMILIES = ["auto", "4", "6"];
const LEGACY_TOOLS = { trace: "traceroute", traceroute: "traceroute", ping: "ping", mtr: "mtr" };
const LEGACY_FAMILIES = { ipv4: "4", ipv6: "6" };

const ui = {
  form: $("#run-form"),
  target: $("#target"),
  family: $("#family"),
  run: $("#run"),
  stop: $("#stop"),
  status: $("#status"),
  error: $("#error"),
  result: $("#result"),
  metaText: $("#meta-text"),
  command: $("#command"),
  progressRow: $("#progress-row"),
  progress: $("#progress"),
  progressLabel: $("#progress-label"),
  hopsView: $("#hops-view"),
  hopsBody: $("#hops tbody"),
  pingView: $("#ping-view"),
  chart: $("#chart"),
  pingSummary: $("#ping-summary"),
  output: $("#output"),
  copyOutput: $("#copy-output"),
  copyLink: $("#copy-link"),
  textLink: $("#text-link"),
  themeToggle: $("#theme-toggle"),
  useMyIp: $("#use-my-ip"),
  clientIp: $("#client-ip"),
};

const embed = document.body.dataset.embed === "1";
let current = null; // { source, params, started, rows, replies, address }

// ---------------------------------------------------------------- parameters

function paramsFromForm() {
  const checked = ui.form.querySelector('input[name="tool"]:checked');
  return {
    tool: checked ? checked.value : "mtr",
    target: ui.target.value.trim(),
    family: ui.family.value,
  };
}

function paramsFromLocation() {
  const query = new URLSearchParams(location.search);
  const tool = LEGACY_TOOLS[query.get("tool") || query.get("action") || ""] || "mtr";
  let family = query.get("family") || LEGACY_FAMILIES[query.get("aftype") || ""] || "auto";
  if (!FAMILIES.includes(family)) family = "auto";
  return { tool, target: (query.get("target") || "").trim(), family };
}

function fillForm(params) {
  const radio = ui.form.querySelector(`input[name="tool"][value="${params.tool}"]`);
  if (radio) radio.checked = true;
  ui.target.value = params.target;
  ui.family.value = params.family;
}

function permalink(params) {
  const query = new URLSearchParams({ tool: params.tool, target: params.target, family: params.family });
  if (embed) query.set("embed", "1");
  return `?${query}`;
}

function apiUrl(params, suffix = "") {
  const url = new URL(`api/v1/${encodeURIComponent(params.tool)}${suffix}`, document.baseURI);
  url.searchParams.set("target", params.target);
  url.searchParams.set("family", params.family);
  return url;
}

function textUrl(params) {
  const route = { mtr: "mtr", traceroute: "trace", ping: "ping" }[params.tool];
  const url = new URL(route, document.baseURI);
  url.searchParams.set("target", params.target);
  if (params.family !== "auto") url.searchParams.set("aftype", `ipv${params.family}`);
  return url;
}

// ---------------------------------------------------------------- status

function announce(text) {
  ui.status.textContent = text;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function setRunning(running) {
  ui.run.disabled = running;
  ui.stop.disabled = !running;
  ui.form.setAttribute("aria-busy", running ? "true" : "false");
}

// ---------------------------------------------------------------- running

function start(params, { push }) {
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
    source.close();
    finish();
    if (run.started) {
      announce("The connection to the server was lost.");
      showError("The connection to the server was lost before the run finished.");
    } else {
      explainRefusal(params);
    }
  });
}

function stop({ quiet = false } = {}) {
  if (!current) return;
  const { source, params } = current;
  source.close(); // closing the stream makes the server end the tool's process group
  current = null;
  finish();
  if (!quiet) announce(`Stopped ${params.tool} to ${params.target}.`);
}

function finish() {
  setRunning(false);
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

function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// ---------------------------------------------------------------- events

function resetResult(params) {
  ui.result.hidden = false;
  ui.metaText.textContent = `${params.tool} to ${params.target}`;
  ui.command.textContent = "";
  ui.output.textContent = "";
  ui.hopsBody.replaceChildren();
  ui.chart.replaceChildren();
  ui.pingSummary.textContent = "";
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
  run.source.close();
  current = null;
  finish();
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

// ---------------------------------------------------------------- hop table

const COLUMNS = ["loss_pct", "sent", "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"];

function onHop(hop, run) {
  let row = run.rows.get(hop.hop);
  if (!row) {
    row = makeRow(hop.hop);
    run.rows.set(hop.hop, row);
    const after = [...run.rows.keys()].filter((n) => n > hop.hop).sort((a, b) => a - b)[0];
    ui.hopsBody.insertBefore(row.tr, after ? run.rows.get(after).tr : null);
  }
  fillRow(row, hop, run.params.tool);
  scaleBars(run);
}

function onTrim(data, run) {
  // mtr placed the target too far at first (its first replies were lost).
  for (const [n, row] of run.rows) {
    if (n > data.hops) {
      row.tr.remove();
      run.rows.delete(n);
    }
  }
  scaleBars(run);
}

function makeRow(number) {
  const tr = document.createElement("tr");
  const cells = {};
  const add = (name, className) => {
    const td = document.createElement("td");
    if (className) td.className = className;
    tr.append(td);
    cells[name] = td;
    return td;
  };
  add("hop", "num").textContent = String(number);
  add("hosts", "hosts");
  for (const column of COLUMNS) add(column, "num");
  const bar = document.createElement("span");
  bar.className = "bar";
  add("bar", "bar-col").append(bar);
  return { tr, cells, bar, avg: null };
}

function fillRow(row, hop, tool) {
  const { cells } = row;
  cells.hosts.replaceChildren();
  if (hop.hosts.length === 0) {
    cells.hosts.textContent = tool === "mtr" ? "???" : "*";
    cells.hosts.classList.add("silent");
  } else {
    cells.hosts.classList.remove("silent");
    for (const host of hop.hosts) cells.hosts.append(hostButton(host));
  }
  cells.loss_pct.textContent = `${hop.loss_pct.toFixed(1)}%`;
  cells.loss_pct.className = `num ${hop.loss_pct >= 100 ? "loss-all" : hop.loss_pct > 0 ? "loss-some" : ""}`;
  cells.sent.textContent = String(hop.sent);
  for (const column of COLUMNS.slice(2)) cells[column].textContent = ms(hop[column]);
  row.avg = hop.avg_ms;
}

function hostButton(host) {
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

function scaleBars(run) {
  const worst = Math.max(0, ...[...run.rows.values()].map((r) => r.avg || 0));
  for (const row of run.rows.values()) {
    const share = worst > 0 && row.avg !== null ? (row.avg / worst) * 100 : 0;
    row.bar.style.width = `${share.toFixed(1)}%`;
    row.bar.hidden = row.avg === null;
  }
}

function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2);
}

// ---------------------------------------------------------------- ping chart

function onReply(reply, run) {
  run.replies.set(reply.seq, reply);
  drawChart(run);
}

function onSummary(summary) {
  const parts = [
    `${summary.transmitted} sent, ${summary.received} received, ${summary.loss_pct}% loss`,
  ];
  if (summary.min_ms !== undefined) {
    parts.push(`min/avg/max ${ms(summary.min_ms)} / ${ms(summary.avg_ms)} / ${ms(summary.max_ms)} ms`);
  }
  ui.pingSummary.textContent = parts.join(" · ");
}

function drawChart(run) {
  const width = 600;
  const height = 180;
  const pad = { left: 40, right: 10, top: 10, bottom: 20 };
  const replies = [...run.replies.values()].sort((a, b) => a.seq - b.seq);
  const total = Math.max(ui.progress.max || 1, replies.length ? replies[replies.length - 1].seq : 1);
  const rtts = replies.filter((r) => r.rtt_ms !== null).map((r) => r.rtt_ms);
  const top = niceCeiling(Math.max(...rtts, 0.001));
  const x = (seq) => pad.left + ((seq - 0.5) / total) * (width - pad.left - pad.right);
  const y = (rtt) => height - pad.bottom - (rtt / top) * (height - pad.top - pad.bottom);
  const nodes = [];
  const el = (name, attrs, text) => {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    nodes.push(node);
    return node;
  };
  el("line", { class: "axis", x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom });
  el("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom });
  el("text", { x: 2, y: pad.top + 8 }, `${ms(top)}`);
  el("text", { x: 2, y: height - pad.bottom }, "0");
  el("text", { x: width - pad.right - 60, y: height - 4 }, `${total} probes`);
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
      const cy = height - pad.bottom - 6;
      const lost = el("path", { class: "lost", d: `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx + 5},${cy - 5}L${cx - 5},${cy + 5}` });
      lost.append(titled(`#${reply.seq}: ${reply.error || "lost"}`));
    }
  }
  ui.chart.replaceChildren(...nodes);
}

function titled(text) {
  const title = document.createElementNS(SVG, "title");
  title.textContent = text;
  return title;
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// ---------------------------------------------------------------- copying

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  announce(`${what} copied to the clipboard.`);
}

// ---------------------------------------------------------------- theme

const THEME_KEY = "webtrace-theme";

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  if (!ui.themeToggle) return;
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  ui.themeToggle.setAttribute("aria-pressed", dark ? "true" : "false");
}

function storedTheme() {
  try {
    return localStorage.getItem(THEME_KEY);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- wiring

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  start(paramsFromForm(), { push: true });
});
ui.stop.addEventListener("click", () => stop());
ui.copyOutput.addEventListener("click", () => copy(ui.output.textContent, "Output"));
ui.copyLink.addEventListener("click", () => copy(location.href, "Link"));
if (ui.useMyIp) {
  ui.useMyIp.addEventListener("click", () => {
    ui.target.value = ui.clientIp.textContent;
    ui.target.focus();
  });
}
if (ui.themeToggle) {
  ui.themeToggle.addEventListener("click", () => {
    const dark = ui.themeToggle.getAttribute("aria-pressed") !== "true";
    const theme = dark ? "dark" : "light";
    try {
      localStorage.setItem(THEME_KEY, theme);
    } catch {
      // private mode: the choice lasts for this page only
    }
    applyTheme(theme);
  });
}
window.addEventListener("popstate", () => {
  const params = paramsFromLocation();
  fillForm(params);
  if (params.target) start(params, { push: false });
  else {
    stop({ quiet: true });
    ui.result.hidden = true;
    showError("");
    announce("");
  }
});

applyTheme(storedTheme());
{
  const params = paramsFromLocation();
  fillForm(params);
  if (params.target && TOOLS.includes(params.tool)) {
    // Old links (?action=…&aftype=…) become new ones, then run as the page opens.
    history.replaceState(params, "", permalink(params));
    start(params, { push: false });
  }
}
