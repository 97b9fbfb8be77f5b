// The app's own words, from locales/<locale>.json; questionnaire and skill texts come from the
// API in the participant's locale instead. Switching the language switches both (main.js).

export const LOCALES = ["en", "es"];
let words = {};
let current = "en";

/** The supported locale for a tag: "es-MX" -> "es"; anything else -> "en". */
export function supported(tag) {
  const language = (tag || "").toLowerCase().split("-")[0];
  return LOCALES.includes(language) ? language : "en";
}

export async function useLocale(tag) {
  const locale = supported(tag);
  const response = await fetch(`/app/locales/${locale}.json`);
  words = await response.json();
  current = locale;
  document.documentElement.lang = locale;
}

export const locale = () => current;

/** t("home.prompt_title", {at: "10:00"}) -> "Check-in from 10:00"; the key if missing. */
export function t(key, values = {}) {
  const text = words[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
}

// Dates and times as the phone's region writes them (en-GB: 14:05, en-US: 2:05 PM) when
// the phone speaks the app's language, else as that language usually does.
const region = () => (supported(navigator.language) === current ? navigator.language : current);

/** "10:45" in the reader's language and the phone's time zone. */
export function clockTime(date) {
  return new Intl.DateTimeFormat(region(), { hour: "2-digit", minute: "2-digit" }).format(date);
}

/** "Mon 2 Mar, 10:45": for entries that may be from another day. */
export function dayAndTime(date) {
  return new Intl.DateTimeFormat(region(), {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(date);
}

/** tn("home.prompt_open", 1) -> the ".one" or ".other" text, with {count} filled in. */
export function tn(key, count, values = {}) {
  const form = new Intl.PluralRules(current).select(count);
  const chosen = `${key}.${form}` in words ? `${key}.${form}` : `${key}.other`;
  return t(chosen, { count, ...values });
}
