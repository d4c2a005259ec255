// The page's elements, and the two places it speaks to the visitor.
// Everything the server or a tool sends is shown through textContent only.
// Nothing is looked up on import: bindPage() finds the elements, once, as the page starts.

export const $ = (selector) => document.querySelector(selector);

export const ui = {};

// The template's part: a run's only one; cloned for each node of a run from several.
export let mainView = null;

export function bindPage() {
  Object.assign(ui, findElements());
  mainView = viewOf($("#part"));
}

const findElements = () => ({
  form: $("#run-form"),
  target: $("#target"),
  family: $("#family"),
  protocol: $("#protocol"),
  protocolField: $("#protocol-field"),
  port: $("#port"),
  portField: $("#port-field"),
  count: $("#count"),
  countField: $("#count-field"),
  continuous: $("#continuous"),
  continuousField: $("#continuous-field"),
  run: $("#run"),
  stop: $("#stop"),
  status: $("#status"),
  error: $("#error"),
  result: $("#result"),
  parts: $("#parts"),
  nodesField: $("#nodes-field"),
  copyOutput: $("#copy-output"),
  copyLink: $("#copy-link"),
  resultAbout: $("#result-about"),
  taken: $("#taken"),
  runAgain: $("#run-again"),
  runAgainCompare: $("#run-again-compare"),
  comparison: $("#comparison"),
  verdict: $("#verdict"),
  comparisonAbout: $("#comparison-about"),
  comparisonLink: $("#comparison-link"),
  comparisonPlaces: $("#comparison-places"),
  textLink: $("#text-link"),
  severalChart: $("#several-chart"),
  nodesChart: $("#nodes-chart"),
  nodesLegend: $("#nodes-legend"),
  nodesStats: $("#nodes-stats"),
  pathsView: $("#paths-view"),
  pathsSummary: $("#paths-summary"),
  pathsJoin: $("#paths-join"),
  pathsTable: $("#paths-table"),
  downloads: $("#downloads"),
  downloadList: $("#download-list"),
  themeToggle: $("#theme-toggle"),
  useMyIp: $("#use-my-ip"),
  clientIp: $("#client-ip"),
});

// One part of a run's result (the only one, or one node's): its elements, found by class.
export function viewOf(part) {
  const find = (name) => part.querySelector(`.${name}`);
  const table = find("hops");
  return {
    part,
    title: find("part-title"),
    name: find("part-name"),
    info: find("part-info"),
    status: find("part-status"),
    meta: find("meta"),
    metaText: find("meta-text"),
    command: find("command"),
    progressRow: find("progress-row"),
    progress: find("progress"),
    progressLabel: find("progress-label"),
    hopsView: find("hops-view"),
    hopsHead: table.tHead,
    hopsSummary: find("hops-summary"),
    hopsBody: table.tBodies[0],
    chartView: find("chart-view"),
    chart: find("chart-svg"),
    chartSummary: find("chart-summary"),
    output: find("output"),
    records: find("records"),
    recordsOutput: find("records-output"),
  };
}

export function announce(text) {
  ui.status.textContent = text;
}

export function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

export function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2);
}
