// The home screen: the prompts open now (GET /v1/me/prompts) with how long each stays open,
// the check-ins waiting on the phone to be sent, and a check-in of one's own.

import { call, NetworkError } from "../api.js";
import { h } from "../dom.js";
import { clockTime, dayAndTime, t, tn } from "../i18n.js";
import { waiting } from "../outbox.js";

/**
 * `openPrompt(prompt)` and `checkIn()` start a check-in; `notice` is a message to show
 * first (a refused check-in, a prompt no longer open).
 */
export async function homeScreen({ openPrompt, checkIn }, notice = null) {
  const queued = await waiting();
  const queuedCheckins = queued.filter((entry) => entry.kind === "checkin");
  const answeredPrompts = new Set(queuedCheckins.map((entry) => entry.body.prompt_id));
  let prompts;
  try {
    prompts = await call("GET", "/v1/me/prompts");
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    prompts = []; // offline on the first start: no copy of the list yet
  }
  const list = h("ul", { class: "prompts" });
  // The list can come from the service worker's copy while offline: what expired since is
  // left out here, and the minutes left are counted on the phone's clock.
  const render = () => {
    const now = Date.now();
    const open = prompts.filter(
      (prompt) => Date.parse(prompt.expires_at) > now && !answeredPrompts.has(prompt.id),
    );
    list.replaceChildren(
      ...open.map((prompt) => {
        const expires = new Date(prompt.expires_at);
        const minutes = Math.max(1, Math.ceil((expires - now) / 60_000));
        const label = tn("home.prompt_open", minutes, { until: clockTime(expires) });
        return h(
          "li",
          {},
          h(
            "button",
            { class: "prompt", type: "button", on: { click: () => openPrompt(prompt) } },
            h("span", { class: "prompt-title" }, t("home.prompt_title", { at: clockTime(new Date(prompt.scheduled_at)) })),
            h("span", { class: "prompt-time" }, label),
          ),
        );
      }),
    );
    empty.hidden = open.length > 0;
  };
  const empty = h("p", {}, t("home.no_prompts"));
  render();
  const timer = setInterval(render, 30_000);

  return {
    title: t("home.title"),
    leave: () => clearInterval(timer),
    content: [
      h("h1", {}, t("home.title")),
      notice ? h("p", { class: "notice", role: "alert" }, notice) : null,
      navigator.onLine ? null : h("p", { class: "notice", role: "status" }, t("home.offline")),
      queuedCheckins.length
        ? h(
            "section",
            { "aria-labelledby": "waiting-heading", class: "waiting" },
            h("h2", { id: "waiting-heading" }, t("home.waiting_title")),
            h("p", {}, t("home.waiting_explained")),
            h(
              "ul",
              {},
              queuedCheckins.map((entry) =>
                h("li", {}, t("home.waiting_item", { at: dayAndTime(new Date(entry.body.answered_at)) })),
              ),
            ),
          )
        : null,
      h(
        "section",
        { "aria-labelledby": "prompts-heading" },
        h("h2", { id: "prompts-heading" }, t("home.prompts_title")),
        list,
        empty,
      ),
      h(
        "section",
        { "aria-labelledby": "own-heading" },
        h("h2", { id: "own-heading" }, t("home.own_title")),
        h("p", {}, t("home.own_explained")),
        h("button", { type: "button", class: "primary", on: { click: () => checkIn() } }, t("home.check_in_now")),
      ),
    ],
  };
}
