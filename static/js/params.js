// What a run asks for (tool, target, family): from the form, from the address
// bar (permalinks, the original webtrace's links), and as URLs.

import { ui } from "./dom.js";

// The tools this server offers, as the server describes them (the page's
// data-config): name, label, text route and older names.
const config = JSON.parse(document.body.dataset.config);
export const TOOLS = config.tools;
const FAMILIES = ["auto", "4", "6"];
const LEGACY_FAMILIES = { ipv4: "4", ipv6: "6" };
const NAMES = Object.fromEntries(TOOLS.flatMap((tool) => [tool.name, ...tool.aliases].map((name) => [name, tool.name])));
const DEFAULT_TOOL = TOOLS.length ? TOOLS[0].name : "";

export const embed = document.body.dataset.embed === "1";

export function toolNamed(name) {
  return TOOLS.find((tool) => tool.name === name);
}

export function paramsFromForm() {
  const checked = ui.form.querySelector('input[name="tool"]:checked');
  return {
    tool: checked ? checked.value : DEFAULT_TOOL,
    target: ui.target.value.trim(),
    family: ui.family.value,
  };
}

export function paramsFromLocation() {
  const query = new URLSearchParams(location.search);
  const tool = NAMES[query.get("tool") || query.get("action") || ""] || DEFAULT_TOOL;
  let family = query.get("family") || LEGACY_FAMILIES[query.get("aftype") || ""] || "auto";
  if (!FAMILIES.includes(family)) family = "auto";
  return { tool, target: (query.get("target") || "").trim(), family };
}

export function fillForm(params) {
  const radio = ui.form.querySelector(`input[name="tool"][value="${CSS.escape(params.tool)}"]`);
  if (radio) radio.checked = true;
  ui.target.value = params.target;
  ui.family.value = params.family;
}

export function permalink(params) {
  const query = new URLSearchParams({ tool: params.tool, target: params.target, family: params.family });
  if (embed) query.set("embed", "1");
  return `?${query}`;
}

export function apiUrl(params, suffix = "") {
  const url = new URL(`api/v1/${encodeURIComponent(params.tool)}${suffix}`, document.baseURI);
  url.searchParams.set("target", params.target);
  url.searchParams.set("family", params.family);
  return url;
}

export function textUrl(params) {
  const url = new URL(toolNamed(params.tool).text_route, document.baseURI);
  url.searchParams.set("target", params.target);
  if (params.family !== "auto") url.searchParams.set("aftype", `ipv${params.family}`);
  return url;
}
