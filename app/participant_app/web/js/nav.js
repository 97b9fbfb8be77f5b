// Screens: each is a function that returns {title, content, leave?, chrome?}; go() puts one
// in <main>, names it in the document title and moves the focus to its heading, so a screen
// reader starts reading the new screen and a keyboard user starts from its top.

import { fill } from "./dom.js";
import { t } from "./i18n.js";

const screens = {};
let current = null;

export function register(name, render) {
  screens[name] = render;
}

export async function go(name, ...args) {
  const screen = await screens[name](...args);
  current?.leave?.();
  current = { name, ...screen };
  const main = document.getElementById("screen");
  // Screens without the header (the crisis resources) fill the whole screen.
  document.getElementById("chrome").hidden = screen.chrome === false;
  for (const [id, target] of [["nav-home", "home"], ["nav-settings", "settings"]]) {
    const button = document.getElementById(id);
    button.textContent = t(`nav.${target}`);
    if (name === target) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  fill(main, screen.content);
  document.title = `${screen.title} – Kairos`;
  const heading = main.querySelector("h1");
  heading?.setAttribute("tabindex", "-1");
  heading?.focus();
  window.scrollTo(0, 0);
}

export const currentScreen = () => current?.name ?? null;
