// Screens: each is a function that returns {title, content, leave?, chrome?}; go() puts one
// in <main>, names it in the document title and moves the focus to its heading, so a screen
// reader starts reading the new screen and a keyboard user starts from its top.

import { fill } from "./dom.js";
import { t } from "./i18n.js";

const screens = {};
let current = null; // the screen shown, with its leave()
let target = null; // the screen being made (a screen may wait for the API first)
let latest = 0;

export function register(name, render) {
  screens[name] = render;
}

export async function go(name, ...args) {
  const ticket = ++latest;
  target = name;
  const screen = await screens[name](...args);
  // The last go() wins: a screen that was still waiting for the API is dropped.
  if (ticket !== latest) return screen.leave?.();
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

export const currentScreen = () => target;
