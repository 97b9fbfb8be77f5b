// Joining a study: the code from the QR code's link (/app/enroll#code=...) or typed by hand,
// redeemed with POST /v1/enroll for the participant token that the app keeps on the phone.

import { ApiError, call } from "../api.js";
import { h, liveRegion, say } from "../dom.js";
import { t } from "../i18n.js";

/** `enrolled(response)` continues once the token is stored; `code` redeems one at once. */
export function enrollScreen(enrolled, { code = null, message = null } = {}) {
  const problem = liveRegion("error", "alert");
  const input = h("input", {
    id: "enroll-code",
    name: "code",
    autocomplete: "one-time-code",
    autocapitalize: "characters",
    spellcheck: "false",
    required: true,
    maxlength: 64,
    "aria-describedby": "enroll-hint",
  });
  const button = h("button", { type: "submit", class: "primary" }, t("enroll.join"));

  async function redeem(value) {
    button.disabled = true;
    say(problem, null);
    try {
      await enrolled(await call("POST", "/v1/enroll", { code: value }));
    } catch (error) {
      button.disabled = false;
      say(problem, error instanceof ApiError ? refusal(error) : t("error.offline"));
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  const form = h(
    "form",
    {
      novalidate: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          const value = input.value.trim();
          if (value) redeem(value);
          else say(problem, t("enroll.code_missing"));
        },
      },
    },
    h("label", { for: "enroll-code" }, t("enroll.code")),
    h("p", { class: "hint", id: "enroll-hint" }, t("enroll.code_hint")),
    input,
    problem,
    button,
  );
  if (code) {
    input.value = code;
    queueMicrotask(() => redeem(code));
  }
  return {
    title: t("enroll.title"),
    chrome: false,
    content: [
      h("h1", {}, t("enroll.title")),
      message ? h("p", { class: "notice", role: "status" }, message) : null,
      h("p", {}, t("enroll.intro")),
      form,
    ],
  };
}

function refusal(error) {
  return error.status === 429 ? t("enroll.too_many") : t("enroll.refused");
}
