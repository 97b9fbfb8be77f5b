// The participant app's start and its screens' order. Read this file first; each module it
// imports covers one part of the participant API (see the README's "Participant app").

import { call, NetworkError, setToken, whenTokenRefused } from "./api.js";
import { h } from "./dom.js";
import { t, useLocale } from "./i18n.js";
import { currentScreen, go, register } from "./nav.js";
import { sendWaiting } from "./outbox.js";
import { enablePush, forgetDevice, pushState, registerForPush } from "./push.js";
import { load, session } from "./session.js";
import * as store from "./store.js";
import { crisisScreen, doneScreen, feedbackScreen, skillScreen } from "./screens/after.js";
import { checkinScreen } from "./screens/checkin.js";
import { endedScreen } from "./screens/ended.js";
import { enrollScreen } from "./screens/enroll.js";
import { homeScreen } from "./screens/home.js";
import { settingsScreen } from "./screens/settings.js";

const home = (notice = null) => go("home", notice);

register("enroll", (options) => enrollScreen(enrolled, options));
register("welcome", welcomeScreen);
register("home", (notice) => homeScreen({ openPrompt, checkIn: () => go("checkin", null) }, notice));
register("checkin", (prompt) => checkinScreen(showOutcome, prompt));
register("crisis", (response) => crisisScreen(response.safety, () => afterCrisis(response)));
register("skill", (delivery) => skillScreen(delivery, (didIt) => go("feedback", delivery, didIt)));
register("feedback", (delivery, didIt) =>
  feedbackScreen(delivery, didIt, (outcome) => go("done", outcome ? "feedback" : "thanks")),
);
register("done", (kind) => doneScreen(kind, () => home()));
register("settings", () => settingsScreen({ again: () => go("settings"), signOut }));
register("ended", (code) => endedScreen(code, () => go("enroll")));

/** After a check-in was sent (or stored to be sent later). */
function showOutcome(outcome) {
  if (outcome.waiting) return go("done", "waiting");
  const response = outcome.sent;
  // Safety first: a positive screen shows the crisis resources before anything else.
  if (response.safety) return go("crisis", response);
  return showDelivery(response);
}

function showDelivery(response) {
  if (response.delivery.skill) return go("skill", response.delivery);
  // No skill this time (and no reason shown: it could tell the participant their arm).
  return go("done", "thanks");
}

function afterCrisis(response) {
  return response.delivery.skill ? go("skill", response.delivery) : home();
}

/** Open a prompt: from the home screen, a notification, or the link /app/#prompt=<id>. */
async function openPrompt(prompt) {
  try {
    await call("POST", `/v1/prompts/${prompt.id}/opened`);
  } catch (error) {
    // Offline the prompt can still be answered; only a prompt the server does not know is
    // refused.
    if (!(error instanceof NetworkError)) return home(t("home.prompt_gone"));
  }
  return go("checkin", prompt);
}

async function openPromptById(id) {
  let prompts = [];
  try {
    prompts = await call("GET", "/v1/me/prompts");
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
  }
  const prompt = prompts.find((candidate) => candidate.id === id);
  return prompt ? openPrompt(prompt) : home(t("home.prompt_gone"));
}

/** Send what waits in the outbox (at start, when back online) and show what came back. */
async function sendAndShow() {
  if (!store.token()) return;
  let outcomes;
  try {
    outcomes = await sendWaiting();
  } catch (error) {
    if (error.status === 401) return; // the token was refused: the ended screen is shown
    throw error;
  }
  const checkins = outcomes.filter((outcome) => outcome.entry.kind === "checkin");
  const sent = checkins.filter((outcome) => outcome.sent);
  const refused = checkins.filter((outcome) => outcome.refused);
  const crisis = sent.findLast((outcome) => outcome.sent.safety);
  if (crisis) return go("crisis", crisis.sent); // wherever the participant is
  // Never in the middle of answering: the result waits for the home screen.
  if (!["home", "done"].includes(currentScreen())) return;
  if (sent.length) return showDelivery(sent.at(-1).sent);
  if (refused.length) return home(t("home.refused", { reason: refused.at(-1).refused.message }));
}

async function enrolled(response) {
  store.saveToken(response.token);
  setToken(response.token);
  await load();
  await go("welcome", response.study_name);
}

function welcomeScreen(studyName) {
  const state = pushState(session.me);
  const ask = state === "default" || state === "not_registered";
  const turnOn = async () => {
    await enablePush(session.me);
    home();
  };
  return {
    title: t("welcome.title"),
    content: [
      h("h1", {}, t("welcome.title")),
      h("p", {}, t("welcome.enrolled", { study: studyName })),
      h("p", {}, t(`welcome.reminders_${ask ? "ask" : state}`)),
      ask ? h("button", { type: "button", class: "primary", on: { click: turnOn } }, t("reminders.turn_on")) : null,
      h(
        "button",
        { type: "button", class: ask ? "secondary" : "primary", on: { click: () => home() } },
        ask ? t("welcome.not_now") : t("welcome.continue"),
      ),
    ],
  };
}

async function signOut() {
  try {
    await forgetDevice();
  } catch (error) {
    console.warn("the device was not removed", error);
  }
  await store.forgetAll();
  setToken(null);
  go("enroll", { message: t("enroll.signed_out") });
}

// The server refused the token: forget everything and stop.
whenTokenRefused(async (code) => {
  await store.forgetAll();
  setToken(null);
  go("ended", code);
});

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" });
  // On the first start the worker takes over only after the first requests: load again
  // through it, so that it keeps its copies of /v1/me and the questionnaire for offline.
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (store.token()) load().catch(() => {});
  });
  // The service worker asks an open app to show a notification's prompt (sw.js), and to
  // refresh the home screen when a push arrived.
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (!store.token()) return;
    if (event.data?.type === "open-prompt") openPromptById(event.data.promptId);
    if (event.data?.type === "pushed" && currentScreen() === "home") home();
  });
}

async function start() {
  // What the URL carries is read once and removed: an enrollment code must not stay in the
  // address bar or the history, and a reload should not open a prompt again.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const code = fragment.get("code");
  const promptId = fragment.get("prompt");
  if (location.hash || location.pathname !== "/app/") history.replaceState(null, "", "/app/");
  registerServiceWorker();
  await useLocale(store.savedLocale() ?? navigator.language);
  document.getElementById("nav-home").addEventListener("click", () => home());
  document.getElementById("nav-settings").addEventListener("click", () => go("settings"));
  window.addEventListener("hashchange", () => {
    const id = new URLSearchParams(location.hash.slice(1)).get("prompt");
    history.replaceState(null, "", "/app/");
    if (id && store.token()) openPromptById(id);
  });

  // What waits in the outbox goes when the connection is back, and at every start. "Online"
  // may come before the connection works: what still waits is tried again now and then.
  window.addEventListener("online", sendAndShow);
  setInterval(sendAndShow, 30_000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") sendAndShow();
  });

  const saved = store.token();
  if (!saved) return go("enroll", { code });
  setToken(saved);
  try {
    await load();
  } catch (error) {
    if (error.status === 401) return; // refused: the ended screen is shown
    if (!(error instanceof NetworkError)) throw error;
    // Offline at the very first start after enrollment: nothing cached to show.
    return home(t("home.offline"));
  }
  if (["granted", "not_registered"].includes(pushState(session.me))) {
    registerForPush(session.me).catch((error) => console.warn("push not registered", error));
  }
  if (code) await home(t("enroll.already"));
  else if (promptId) await openPromptById(promptId);
  else await home();
  await sendAndShow();
}

start();
