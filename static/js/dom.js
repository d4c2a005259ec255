// The page's elements, and the two places it speaks to the visitor.
// Everything the server or a tool sends is shown through textContent only.

export const $ = (selector) => document.querySelector(selector);

export const ui = {
  form: $("#run-form"),
  target: $("#target"),
  family: $("#family"),
  protocol: $("#protocol"),
  protocolField: $("#protocol-field"),
  port: $("#port"),
  portField: $("#port-field"),
  count: $("#count"),
  countField: $("#count-field"),
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
  hopsHead: $("#hops thead"),
  hopsBody: $("#hops tbody"),
  pingView: $("#ping-view"),
  chart: $("#chart"),
  pingSummary: $("#ping-summary"),
  output: $("#output"),
  copyOutput: $("#copy-output"),
  copyLink: $("#copy-link"),
  resultAbout: $("#result-about"),
  taken: $("#taken"),
  runAgain: $("#run-again"),
  textLink: $("#text-link"),
  themeToggle: $("#theme-toggle"),
  useMyIp: $("#use-my-ip"),
  clientIp: $("#client-ip"),
};

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
