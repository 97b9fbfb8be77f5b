// The check-in: the questionnaire's items in the participant's language, required ones
// enforced before sending, and the API's problems shown at their item. Sent through the
// outbox (POST /v1/checkins), so an answer given offline waits on the phone.

import { h, liveRegion, say } from "../dom.js";
import { t } from "../i18n.js";
import { renderItem } from "../items.js";
import { post } from "../outbox.js";
import { session } from "../session.js";

/** "2026-03-02T10:05:00+01:00": the moment with the phone's own UTC offset. */
export function isoWithOffset(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 19);
  return `${local}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** `prompt` is the prompt answered (null for a check-in of one's own); `done(outcome)`
 * shows what follows (outbox.js outcomes). */
export function checkinScreen(done, prompt = null) {
  const { version, items } = session.questionnaire;
  const rendered = items.map(renderItem);
  const problem = liveRegion("error", "alert");
  const button = h("button", { type: "submit", class: "primary" }, t("checkin.send"));

  function showProblems(byKey) {
    for (const item of rendered) item.showError(byKey.get(item.key) ?? null);
    const first = rendered.find((item) => byKey.has(item.key));
    say(problem, first ? t("checkin.fix", { count: byKey.size }) : null);
    first?.focus();
  }

  async function submit(event) {
    event.preventDefault();
    const answers = {};
    const missing = new Map();
    items.forEach((item, index) => {
      const answer = rendered[index].answer();
      if (answer !== undefined) answers[item.key] = answer;
      else if (item.required) missing.set(item.key, t("checkin.required"));
    });
    if (missing.size) return showProblems(missing);
    showProblems(new Map());
    button.disabled = true;
    const body = {
      // Made once here and kept with the stored check-in: every retry sends the same one,
      // and the server stores it once.
      client_id: crypto.randomUUID(),
      answered_at: isoWithOffset(new Date()),
      answers,
      questionnaire_version: version,
    };
    if (prompt) body.prompt_id = prompt.id;
    const outcome = await post("checkin", "/v1/checkins", body);
    if (outcome.refused) {
      button.disabled = false;
      const byKey = outcome.refused.fieldErrors("body.answers.");
      if (byKey.size) return showProblems(byKey);
      say(problem, outcome.refused.message);
      return;
    }
    done(outcome);
  }

  return {
    title: t("checkin.title"),
    content: [
      h("h1", {}, t("checkin.title")),
      h("p", {}, t("checkin.intro")),
      h(
        "form",
        { novalidate: true, class: "checkin", on: { submit } },
        rendered.map((item) => item.element),
        problem,
        button,
      ),
    ],
  };
}
