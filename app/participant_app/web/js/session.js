// What the app knows of the enrolled participant, loaded from the API (and, offline, from the
// service worker's copies of the same answers).

import { call } from "./api.js";
import { useLocale } from "./i18n.js";
import { saveLocale } from "./store.js";

export const session = {
  me: null, // GET /v1/me: pseudonym, study_name, status, locale, web_push
  questionnaire: null, // GET /v1/me/questionnaire: version, locale, items
};

/** /v1/me and the questionnaire, and the app's words in the participant's language. */
export async function load() {
  session.me = await call("GET", "/v1/me");
  await useLocale(session.me.locale);
  saveLocale(session.me.locale);
  session.questionnaire = await call("GET", "/v1/me/questionnaire");
}

/** A new language: the server's texts (questionnaire, skills) and the app's own. */
export async function changeLocale(locale) {
  session.me = await call("PATCH", "/v1/me", { locale });
  await useLocale(session.me.locale);
  saveLocale(session.me.locale);
  session.questionnaire = await call("GET", "/v1/me/questionnaire");
}
