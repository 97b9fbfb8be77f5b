// What follows a check-in, from the same response (CheckInOut): the crisis resources first
// when the safety screen is positive, else the skill (title, steps one by one, a timer for its
// duration) and the feedback on it (POST /v1/deliveries/{id}/feedback).

import { h, liveRegion, say } from "../dom.js";
import { t } from "../i18n.js";
import { renderItem } from "../items.js";
import { post } from "../outbox.js";

/** The digits and a leading + of a phone number, for a tel: link. */
const dialable = (phone) => phone.replace(/[^\d+]/g, "");

/** `next()` goes on once the participant has read them (to the skill, if any). */
export function crisisScreen(safety, next) {
  const { text, phone, url } = safety.resources;
  return {
    title: t("crisis.title"),
    chrome: false, // nothing else on the screen
    content: h(
      "div",
      { class: "crisis" },
      h("h1", {}, t("crisis.title")),
      h("p", { class: "crisis-text" }, text),
      phone ? h("a", { class: "call", href: `tel:${dialable(phone)}` }, t("crisis.call", { phone })) : null,
      url ? h("a", { class: "crisis-link", href: url, rel: "noopener noreferrer", target: "_blank" }, t("crisis.open_link", { url })) : null,
      h("button", { type: "button", class: "secondary", on: { click: next } }, t("crisis.continue")),
    ),
  };
}

/** The skill, one step at a time; `finished(didIt)` asks for the feedback. */
export function skillScreen(delivery, finished) {
  const { skill } = delivery;
  // Shown: the delivery was opened (stored now, rated later on the feedback screen).
  post("feedback", `/v1/deliveries/${delivery.id}/feedback`, { opened: true });
  let index = 0;
  const position = h("p", { class: "step-position", "aria-live": "polite" });
  const step = h("p", { class: "step" });
  const back = h("button", { type: "button", class: "secondary", on: { click: () => move(-1) } }, t("skill.previous"));
  const forward = h("button", { type: "button", class: "primary", on: { click: () => move(1) } });
  function move(by) {
    if (index + by >= skill.steps.length) return finished(true);
    index = Math.max(0, index + by);
    position.textContent = t("skill.step_of", { number: index + 1, total: skill.steps.length });
    step.textContent = skill.steps[index];
    back.hidden = index === 0;
    forward.textContent = index === skill.steps.length - 1 ? t("skill.done") : t("skill.next");
  }
  move(0);
  const timer = countdown(skill.duration_seconds);
  return {
    title: skill.title,
    leave: timer.stop,
    content: [
      h("h1", {}, skill.title),
      h("section", { class: "steps", "aria-label": t("skill.steps") }, position, step, h("div", { class: "actions" }, back, forward)),
      timer.element,
      skill.media_url
        ? h("p", {}, h("a", { href: skill.media_url, rel: "noopener noreferrer", target: "_blank" }, t("skill.media")))
        : null,
      h("button", { type: "button", class: "link", on: { click: () => finished(false) } }, t("skill.skip")),
    ],
  };
}

/** An optional timer for the skill's duration, started by a tap. */
function countdown(seconds) {
  const display = h("p", { class: "timer", role: "timer", "aria-live": "off" });
  const ended = liveRegion("notice", "status");
  let interval = null;
  const minutes = (left) => `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  const show = (left) => {
    display.textContent = minutes(left);
  };
  const stop = () => clearInterval(interval);
  const start = h(
    "button",
    {
      type: "button",
      class: "secondary",
      on: {
        click: () => {
          stop();
          say(ended, null);
          const until = performance.now() + seconds * 1000;
          const tick = () => {
            const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
            show(left);
            if (left === 0) {
              stop();
              say(ended, t("skill.timer_done"));
            }
          };
          tick();
          interval = setInterval(tick, 250);
        },
      },
    },
    t("skill.start_timer", { time: minutes(seconds) }),
  );
  show(seconds);
  return {
    stop,
    element: h("section", { class: "timer-box", "aria-label": t("skill.timer") }, display, start, ended),
  };
}

/** Did they do it, how helpful (0-10), distress after (0-100): all optional. */
export function feedbackScreen(delivery, didIt, done) {
  const items = [
    { key: "completed", type: "boolean", text: t("feedback.completed"), required: false },
    {
      key: "helpfulness",
      type: "likert",
      text: t("feedback.helpfulness"),
      min: 0,
      max: 10,
      anchors: [t("feedback.helpfulness_low"), t("feedback.helpfulness_high")],
      required: false,
    },
    {
      key: "distress_after",
      type: "slider",
      text: t("feedback.distress"),
      anchors: [t("feedback.distress_low"), t("feedback.distress_high")],
      required: false,
    },
  ].map(renderItem);
  const problem = liveRegion("error", "alert");
  async function submit(event) {
    event.preventDefault();
    const body = { opened: true };
    for (const item of items) {
      const answer = item.answer();
      if (answer !== undefined) body[item.key] = answer;
    }
    const outcome = await post("feedback", `/v1/deliveries/${delivery.id}/feedback`, body);
    if (outcome.refused) {
      const byKey = outcome.refused.fieldErrors("body.");
      for (const item of items) item.showError(byKey.get(item.key) ?? null);
      say(problem, outcome.refused.message);
      return;
    }
    done(outcome);
  }
  return {
    title: t("feedback.title"),
    content: [
      h("h1", {}, t("feedback.title")),
      h("p", {}, didIt ? t("feedback.intro") : t("feedback.intro_skipped")),
      h("form", { novalidate: true, on: { submit } }, items.map((item) => item.element), problem,
        h("button", { type: "submit", class: "primary" }, t("feedback.send"))),
      h("button", { type: "button", class: "link", on: { click: () => done(null) } }, t("feedback.no_thanks")),
    ],
  };
}

/** A closing screen: `kind` is "thanks" (sent), "feedback" or "waiting" (kept offline). */
export function doneScreen(kind, home) {
  return {
    title: t(`done.${kind}_title`),
    content: [
      h("h1", {}, t(`done.${kind}_title`)),
      h("p", { role: kind === "waiting" ? "status" : null }, t(`done.${kind}_text`)),
      h("button", { type: "button", class: "primary", on: { click: home } }, t("done.home")),
    ],
  };
}
