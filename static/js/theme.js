// Light or dark: the visitor's choice, remembered, else the system's.

import { ui } from "./dom.js";

const THEME_KEY = "webtrace-theme";

export function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  if (!ui.themeToggle) return;
  // The button names the mode it switches to.
  const dark = isDark(theme);
  ui.themeToggle.dataset.dark = dark ? "1" : "";
  ui.themeToggle.textContent = dark ? "Light mode" : "Dark mode";
}

function isDark(theme) {
  return theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
}

export function storedTheme() {
  try {
    return localStorage.getItem(THEME_KEY);
  } catch {
    return null;
  }
}

export function toggleTheme() {
  const dark = !ui.themeToggle.dataset.dark;
  const theme = dark ? "dark" : "light";
  try {
    localStorage.setItem(THEME_KEY, theme);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyTheme(theme);
}
