// The vantage points in the form: each node's up or down state, refreshed from
// api/v1/nodes now and then (the server checks the nodes; this only reads its list).
// A node found down cannot be picked, and says since when.

import { ui } from "./dom.js";
import { apiBase } from "./params.js";

const REFRESH_MS = 30_000;

export function watchNodes() {
  if (!ui.nodesField) return;
  setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  try {
    const response = await fetch(new URL("api/v1/nodes", apiBase()), { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { nodes } = await response.json();
    for (const node of nodes) showState(node);
  } catch {
    // The page keeps what it showed; the next refresh tries again.
  }
}

function showState(node) {
  const state = ui.nodesField.querySelector(`.node-state[data-node="${CSS.escape(node.name)}"]`);
  if (!state) return;
  const box = state.closest("label").querySelector('input[name="node"]');
  const down = !node.up && Boolean(node.down_since);
  state.textContent = down ? `down since ${String(node.down_since).slice(11, 16)} UTC` : node.up ? "" : "not checked yet";
  if (down) box.checked = false;
  box.disabled = down;
}
