// The server no longer takes this phone's token: the participant was withdrawn from the study
// (401 participant_withdrawn), or the token is no longer valid (401 invalid_token). The app
// has already forgotten the token and the outbox (main.js); it says so and stops.

import { h } from "../dom.js";
import { t } from "../i18n.js";

/** `enrollAgain()` offers a new code, except to a withdrawn participant. */
export function endedScreen(code, enrollAgain) {
  const withdrawn = code === "participant_withdrawn";
  const kind = withdrawn ? "withdrawn" : "signed_out";
  return {
    title: t(`ended.${kind}_title`),
    chrome: false,
    content: [
      h("h1", {}, t(`ended.${kind}_title`)),
      h("p", {}, t(`ended.${kind}_text`)),
      withdrawn
        ? null
        : h("button", { type: "button", class: "primary", on: { click: enrollAgain } }, t("ended.new_code")),
    ],
  };
}
