// webtrace page: wires the form, the buttons and the address bar to the run, once
// the document is parsed (no module reads the page as it is imported).

import { showComparison } from "./compare.js";
import { announce, bindPage, showError, ui } from "./dom.js";
import {
  COMPARISON, fillForm, paramsFromForm, paramsFromLocation, paramsFromResult, permalink, readConfig, RESULT,
  resultUrl, showOptions, toolNamed,
} from "./params.js";
import { watchNodes } from "./nodes.js";
import { outputText, shareLink } from "./parts.js";
import { follow, shownRun, start, stop } from "./stream.js";
import { applyTheme, storedTheme, toggleTheme } from "./theme.js";

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

function main() {
  bindPage();
  readConfig();
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    start(paramsFromForm(), { push: true });
  });
  ui.stop.addEventListener("click", () => stop());
  for (const radio of ui.form.querySelectorAll('input[name="tool"]')) radio.addEventListener("change", showOptions);
  ui.protocol.addEventListener("change", showOptions);
  ui.continuous.addEventListener("change", showOptions);
  ui.copyOutput.addEventListener("click", () => copy(outputText(shownRun()), "Output"));
  ui.copyLink.addEventListener("click", () => copy(shareLink(), "Link"));
  if (ui.useMyIp) {
    ui.useMyIp.addEventListener("click", () => {
      ui.target.value = ui.clientIp.textContent;
      ui.target.focus();
    });
  }
  if (ui.themeToggle) ui.themeToggle.addEventListener("click", toggleTheme);
  // The stored result's query, run now, and laid against the stored result as it streams.
  ui.runAgainCompare.addEventListener("click", () => {
    const params = paramsFromResult(RESULT);
    start(params, { push: true, compareWith: RESULT.id });
  });
  window.addEventListener("popstate", () => {
    if (RESULT && location.pathname === resultUrl(RESULT.id).pathname) {
      fillForm(paramsFromResult(RESULT));
      follow(RESULT);
      return;
    }
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

  ui.runAgainCompare.hidden = !RESULT; // a stored result's page only
  applyTheme(storedTheme());
  // Ready to type a target (not inside another site's page, where focus is the host page's).
  if (!document.body.dataset.embed) ui.target.focus({ preventScroll: true });
  watchNodes();
  if (COMPARISON) {
    // Two results against each other (compare/A/B), live while either run goes on.
    fillForm(paramsFromResult({ ...COMPARISON.b, tool: COMPARISON.tool, family: "auto" }));
    showComparison(COMPARISON);
  } else if (RESULT) {
    // A stored result's page (r/ID): show it, live while its run goes on.
    fillForm(paramsFromResult(RESULT));
    follow(RESULT);
  } else {
    const params = paramsFromLocation();
    fillForm(params);
    if (params.target && toolNamed(params.tool)) {
      // Old links (?action=…&aftype=…) become new ones, then run as the page opens.
      history.replaceState(params, "", permalink(params));
      start(params, { push: false });
    }
  }
}

document.addEventListener("DOMContentLoaded", main);
