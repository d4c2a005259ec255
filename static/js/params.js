// What a run asks for (tool, target, family, and the options the tool takes:
// protocol, port, count): from the form, from the address bar (permalinks, the
// original webtrace's links), and as URLs.

import { ui } from "./dom.js";

const FAMILIES = ["auto", "4", "6"];
const LEGACY_FAMILIES = { ipv4: "4", ipv6: "6" };

// What the server says of itself in the page's data-config, read by readConfig() as
// the page starts: the tools it offers (name, label, text route, older names, the
// options each takes, how its output is shown), the site's root, the result shown.
export let TOOLS = [];
// The site's root, which every URL is relative to: a result's page (r/ID) lives one level below it.
let ROOT = null;
// The stored result this page shows (its description, without events), or null.
export let RESULT = null;
// The comparison this page shows (/compare/A/B), or null.
export let COMPARISON = null;
// The vantage points: this server first, then the others it lists (GET api/v1/nodes).
let NODES = [];
let LOCAL = "";
let NAMES = {};
let DEFAULT_TOOL = "";
export let embed = false;

export function readConfig() {
  const config = JSON.parse(document.body.dataset.config);
  TOOLS = config.tools;
  ROOT = new URL(config.root || "", location.href);
  RESULT = config.result;
  COMPARISON = config.comparison;
  NODES = config.nodes || [];
  LOCAL = NODES.length ? NODES[0].name : "";
  NAMES = Object.fromEntries(TOOLS.flatMap((tool) => [tool.name, ...tool.aliases].map((name) => [name, tool.name])));
  DEFAULT_TOOL = TOOLS.length ? TOOLS[0].name : "";
  embed = document.body.dataset.embed === "1";
}

// The name of the server the page is on (its node name), as a report heads its table with it.
export function localName() {
  return LOCAL || location.hostname;
}

export function toolNamed(name) {
  return TOOLS.find((tool) => tool.name === name);
}

// The options a run of this tool sends, as far as it takes them: a protocol
// only if it speaks more than one, a port only with UDP or TCP, a count only
// where it takes one. Empty means the tool's own.
function optionsFor(tool, { protocol = "", port = "", count = "", continuous = false }) {
  const spec = toolNamed(tool);
  if (!spec) return {};
  const options = {};
  const speaks = spec.protocols.includes(protocol) ? protocol : "";
  if (spec.protocols.length > 1 && speaks) options.protocol = speaks;
  if (spec.ports && port && (speaks || spec.protocols[0]) !== "icmp") options.port = port;
  // Continuous: until Stop, so no count.
  if (spec.continuous && continuous) options.continuous = "true";
  else if (spec.count && count) options.count = count;
  return options;
}

export function paramsFromForm() {
  const checked = ui.form.querySelector('input[name="tool"]:checked');
  const tool = checked ? checked.value : DEFAULT_TOOL;
  const options = optionsFor(tool, { protocol: ui.protocol.value, port: ui.port.value, count: ui.count.value,
    continuous: ui.continuous.checked });
  const params = { tool, target: ui.target.value.trim(), family: ui.family.value, ...options };
  const nodes = [...ui.form.querySelectorAll('input[name="node"]:checked')].map((box) => box.value);
  // This server alone is a run as without vantage points.
  if (nodes.length && !(nodes.length === 1 && nodes[0] === LOCAL)) params.nodes = nodes.join(",");
  return params;
}

// The nodes a run asks for, by name, in the server's order; null: this server alone.
export function nodesOf(params) {
  if (!params.nodes) return null;
  const asked = new Set(params.nodes.split(",").map((name) => name.trim().toLowerCase()));
  const names = NODES.map((node) => node.name);
  return asked.has("all") ? names : names.filter((name) => asked.has(name)).concat(
    [...asked].filter((name) => name && !names.includes(name)));
}

export function nodeInfo(name) {
  const node = NODES.find((n) => n.name === name);
  return node && node.info ? node.info : "";
}

export function paramsFromLocation() {
  const query = new URLSearchParams(location.search);
  const tool = NAMES[query.get("tool") || query.get("action") || ""] || DEFAULT_TOOL;
  let family = query.get("family") || LEGACY_FAMILIES[query.get("aftype") || ""] || "auto";
  if (!FAMILIES.includes(family)) family = "auto";
  const asked = { protocol: query.get("protocol") || "", port: query.get("port") || "", count: query.get("count") || "",
    continuous: ["true", "1"].includes(query.get("continuous") || "") };
  const params = { tool, target: (query.get("target") || "").trim(), family, ...optionsFor(tool, asked) };
  if (query.get("nodes")) params.nodes = query.get("nodes");
  return params;
}

export function fillForm(params) {
  const radio = ui.form.querySelector(`input[name="tool"][value="${CSS.escape(params.tool)}"]`);
  if (radio) radio.checked = true;
  ui.target.value = params.target;
  ui.family.value = params.family;
  ui.protocol.value = params.protocol || "";
  ui.port.value = params.port || "";
  ui.count.value = params.count || "";
  ui.continuous.checked = Boolean(params.continuous);
  const nodes = nodesOf(params) || [LOCAL];
  for (const box of ui.form.querySelectorAll('input[name="node"]')) box.checked = nodes.includes(box.value) && !box.disabled;
  showOptions();
}

// Each option's control is shown only where it means something for the tool
// and protocol chosen now.
export function showOptions() {
  const checked = ui.form.querySelector('input[name="tool"]:checked');
  const spec = toolNamed(checked ? checked.value : DEFAULT_TOOL);
  if (!spec) return;
  for (const option of ui.protocol.options) option.hidden = option.value !== "" && !spec.protocols.includes(option.value);
  if (!spec.protocols.includes(ui.protocol.value)) ui.protocol.value = "";
  ui.protocol.options[0].textContent = `Its own (${spec.protocols[0].toUpperCase()})`;
  ui.protocolField.hidden = spec.protocols.length < 2;
  ui.portField.hidden = !spec.ports || (ui.protocol.value || spec.protocols[0]) === "icmp";
  ui.port.placeholder = (ui.protocol.value || spec.protocols[0]) === "tcp" ? "80" : "its own";
  ui.countField.hidden = !spec.count;
  ui.continuousField.hidden = !spec.continuous;
  // A continuous run goes on until Stop: it takes no count.
  ui.count.disabled = Boolean(spec.continuous && ui.continuous.checked);
}

const OPTIONS = ["protocol", "port", "count", "continuous", "nodes"];

function withOptions(query, params) {
  for (const name of OPTIONS) if (params[name]) query.set(name, params[name]);
  return query;
}

export function permalink(params) {
  const query = withOptions(new URLSearchParams({ tool: params.tool, target: params.target, family: params.family }),
    params);
  if (embed) query.set("embed", "1");
  return `${ROOT.pathname}?${query}`;
}

// What a stored result asked for, as the form's params.
export function paramsFromResult(result) {
  const asked = { protocol: result.protocol || "", port: result.port ? String(result.port) : "",
    count: result.count ? String(result.count) : "", continuous: Boolean(result.continuous) };
  const params = { tool: result.tool, target: result.target, family: result.family || "auto",
    ...optionsFor(result.tool, asked) };
  if (result.nodes) params.nodes = result.nodes.join(",");
  return params;
}

export function apiBase() {
  return ROOT;
}

export function resultUrl(id) {
  const url = new URL(`r/${encodeURIComponent(id)}`, ROOT);
  if (embed) url.searchParams.set("embed", "1");
  return url;
}

// A result's events after ``after`` (0: all), then live until its end.
export function resultEventsUrl(id, after) {
  const url = new URL(`api/v1/results/${encodeURIComponent(id)}/events`, ROOT);
  if (after) url.searchParams.set("last_event_id", String(after));
  return url;
}

// Two results against each other: the page, and its data.
export function compareUrl(a, b) {
  return new URL(`compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`, ROOT);
}

export function compareApiUrl(a, b) {
  return new URL(`api/v1/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`, ROOT);
}

// A result in one of its formats (json, text, and those its tool's record lists).
export function resultFormatUrl(id, format) {
  const url = new URL(`api/v1/results/${encodeURIComponent(id)}`, ROOT);
  url.searchParams.set("format", format);
  return url;
}

export function apiUrl(params, suffix = "") {
  const url = new URL(`api/v1/${encodeURIComponent(params.tool)}${suffix}`, ROOT);
  url.searchParams.set("target", params.target);
  url.searchParams.set("family", params.family);
  withOptions(url.searchParams, params);
  return url;
}

export function textUrl(params) {
  const url = new URL(toolNamed(params.tool).text_route, ROOT);
  url.searchParams.set("target", params.target);
  if (params.family !== "auto") url.searchParams.set("aftype", `ipv${params.family}`);
  withOptions(url.searchParams, params);
  return url;
}
