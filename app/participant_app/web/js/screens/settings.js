// Settings: language (PATCH /v1/me), reminders (web push), waking hours
// (GET/PUT /v1/me/waking-hours), skill preferences (GET/PUT /v1/me/preferences, with the
// skills offered from GET /v1/me/skills), the data download (GET /v1/me/data) and sign out.

import { ApiError, call } from "../api.js";
import { h, liveRegion, say } from "../dom.js";
import { LOCALES, t } from "../i18n.js";
import { waiting } from "../outbox.js";
import { enablePush, pushState } from "../push.js";
import { changeLocale, session } from "../session.js";

/** `again()` shows this screen anew (after a language change); `signOut()` forgets the phone. */
export async function settingsScreen({ again, signOut }) {
  const [hours, preferences, skills] = await Promise.all([
    call("GET", "/v1/me/waking-hours"),
    call("GET", "/v1/me/preferences"),
    call("GET", "/v1/me/skills"),
  ]);
  return {
    title: t("settings.title"),
    content: [
      h("h1", {}, t("settings.title")),
      languageSection(again),
      remindersSection(),
      wakingHoursSection(hours),
      preferencesSection(preferences, skills),
      dataSection(),
      await signOutSection(signOut),
    ],
  };
}

function section(key, ...content) {
  return h("section", { "aria-labelledby": `${key}-heading` }, h("h2", { id: `${key}-heading` }, t(`settings.${key}`)), content);
}

/** A form whose submit runs `save()`, saying "Saved" or the API's problem. */
function savingForm(key, save, ...fields) {
  const result = liveRegion("notice", "status");
  const button = h("button", { type: "submit", class: "primary" }, t("settings.save"));
  return h(
    "form",
    {
      novalidate: true,
      "aria-labelledby": `${key}-heading`,
      on: {
        submit: async (event) => {
          event.preventDefault();
          button.disabled = true;
          try {
            await save();
            say(result, t("settings.saved"));
          } catch (error) {
            say(result, error instanceof ApiError ? error.message : t("error.offline"));
          } finally {
            button.disabled = false;
          }
        },
      },
    },
    fields,
    button,
    result,
  );
}

function languageSection(again) {
  const select = h(
    "select",
    { id: "language" },
    LOCALES.map((code) => h("option", { value: code, selected: session.me.locale.startsWith(code) }, t(`language.${code}`))),
  );
  return section(
    "language",
    savingForm("language", async () => {
      await changeLocale(select.value);
      await again(); // every word anew: the app's, the questionnaire's, the skills'
    }, h("label", { for: "language" }, t("settings.language_label")), select),
  );
}

function remindersSection() {
  const status = h("p", { id: "reminders-state" }, t(`reminders.${pushState(session.me)}`));
  const canAsk = (state) => state === "default" || state === "not_registered";
  const button = h(
    "button",
    {
      type: "button",
      class: "primary",
      hidden: !canAsk(pushState(session.me)),
      on: {
        click: async () => {
          button.disabled = true;
          const state = await enablePush(session.me);
          status.textContent = t(`reminders.${state}`);
          button.disabled = false;
          button.hidden = !canAsk(state);
        },
      },
    },
    t("reminders.turn_on"),
  );
  return section("reminders", status, button);
}

function wakingHoursSection(hours) {
  const wake = h("input", { type: "time", id: "wake", value: hours?.wake.slice(0, 5) ?? "07:00", required: true });
  const sleep = h("input", { type: "time", id: "sleep", value: hours?.sleep.slice(0, 5) ?? "22:00", required: true });
  return section(
    "waking_hours",
    h("p", {}, t("settings.waking_hours_explained")),
    hours ? null : h("p", { class: "hint" }, t("settings.waking_hours_unset")),
    savingForm(
      "waking_hours",
      () => call("PUT", "/v1/me/waking-hours", { wake: wake.value, sleep: sleep.value }),
      h("label", { for: "wake" }, t("settings.wake")), wake,
      h("label", { for: "sleep" }, t("settings.sleep")), sleep,
    ),
  );
}

// How a skill or a kind of skill can be liked: the PreferencesIn lists it goes into.
const SKILL_CHOICES = { none: null, preferred: "preferred_skills", disliked: "disliked_skills", disabled: "disabled_skills" };
const MODALITY_CHOICES = { none: null, preferred: "preferred_modalities", disliked: "disliked_modalities" };
// The six dimensions of the process model (app/rules/process.py Dimension).
const DIMENSIONS = ["emotion", "cognition", "attention", "self", "motivation", "behavior"];

/** What the participant most wants to work on: the tailored policy leans toward it. */
function dimensionSelect(saved) {
  const select = h(
    "select",
    { id: "preferred-dimension" },
    ["", ...DIMENSIONS].map((key) =>
      h("option", { value: key, selected: key === (saved.preferred_dimension ?? "") }, t(key ? `dimension.${key}` : "preferences.none")),
    ),
  );
  return { select, element: h("div", { class: "field" }, h("label", { for: "preferred-dimension" }, t("settings.dimension")), select) };
}

function choiceSelect(id, label, choices, saved, keyOf) {
  const current = Object.keys(choices).find((choice) => choices[choice] && saved[choices[choice]].includes(keyOf)) ?? "none";
  const select = h(
    "select",
    { id },
    Object.keys(choices).map((choice) => h("option", { value: choice, selected: choice === current }, t(`preferences.${choice}`))),
  );
  return { key: keyOf, select, element: h("div", { class: "field" }, h("label", { for: id }, label), select) };
}

function preferencesSection(saved, skills) {
  const modalities = [...new Set(skills.flatMap((skill) => skill.modalities))].sort();
  const skillFields = skills.map((skill) => choiceSelect(`skill-${skill.key}`, skill.title, SKILL_CHOICES, saved, skill.key));
  // A modality a study made up has no words of ours: its own name then.
  const modalityName = (key) => (t(`modality.${key}`) === `modality.${key}` ? key : t(`modality.${key}`));
  const modalityFields = modalities.map((key) => choiceSelect(`modality-${key}`, modalityName(key), MODALITY_CHOICES, saved, key));
  const dimension = dimensionSelect(saved);
  const collect = () => {
    const body = { preferred_dimension: dimension.select.value || null };
    for (const list of [...Object.values(SKILL_CHOICES), ...Object.values(MODALITY_CHOICES)]) if (list) body[list] = [];
    for (const field of skillFields) if (SKILL_CHOICES[field.select.value]) body[SKILL_CHOICES[field.select.value]].push(field.key);
    for (const field of modalityFields) if (MODALITY_CHOICES[field.select.value]) body[MODALITY_CHOICES[field.select.value]].push(field.key);
    return body;
  };
  return section(
    "preferences",
    h("p", {}, t("settings.preferences_explained")),
    savingForm(
      "preferences",
      async () => Object.assign(saved, await call("PUT", "/v1/me/preferences", collect())),
      dimension.element,
      modalityFields.length ? h("fieldset", {}, h("legend", {}, t("settings.modalities")), modalityFields.map((f) => f.element)) : null,
      // Folded: a library has dozens of skills.
      h(
        "details",
        {},
        h("summary", {}, t("settings.skills_one_by_one", { count: skillFields.length })),
        h("fieldset", {}, h("legend", {}, t("settings.skills")), skillFields.map((f) => f.element)),
      ),
    ),
  );
}

function dataSection() {
  const result = liveRegion("notice", "status");
  const download = async () => {
    try {
      const data = await call("GET", "/v1/me/data");
      // A file made on the phone: the token never goes into a URL a download could log.
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const link = h("a", { href: URL.createObjectURL(blob), download: "kairos-my-data.json" });
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(link.href);
      say(result, t("settings.data_ready"));
    } catch (error) {
      say(result, error instanceof ApiError ? error.message : t("error.offline"));
    }
  };
  return section(
    "data",
    h("p", {}, t("settings.data_explained")),
    h("button", { type: "button", class: "secondary", on: { click: download } }, t("settings.download")),
    result,
  );
}

async function signOutSection(signOut) {
  const unsent = (await waiting()).filter((entry) => entry.kind === "checkin").length;
  const confirm = h(
    "div",
    { class: "confirm", hidden: true, role: "group", "aria-labelledby": "sign_out-warning" },
    h("p", { id: "sign_out-warning", class: "warning" }, t("settings.sign_out_warning")),
    unsent ? h("p", { class: "warning" }, t("settings.sign_out_unsent", { count: unsent })) : null,
    h("button", { type: "button", class: "danger", on: { click: signOut } }, t("settings.sign_out_confirm")),
    h("button", { type: "button", class: "secondary", on: { click: () => { confirm.hidden = true; start.hidden = false; start.focus(); } } }, t("settings.cancel")),
  );
  const start = h("button", {
    type: "button",
    class: "secondary",
    on: { click: () => { confirm.hidden = false; start.hidden = true; confirm.querySelector("button").focus(); } },
  }, t("settings.sign_out"));
  return section("sign_out", start, confirm);
}
