// One questionnaire item (GET /v1/me/questionnaire: key, type, text, min, max, choices,
// anchors, required) as form controls, and its answer as the API takes it.

import { h } from "./dom.js";
import { t } from "./i18n.js";

/**
 * renderItem(item) -> {element, answer(), showError(text), focus()}
 * answer() is undefined while the item is unanswered (and so left out of the check-in).
 */
export function renderItem(item) {
  const render = { slider, likert, choice: choices, boolean, text }[item.type];
  if (!render) throw new Error(`unknown item type ${item.type}`);
  const ids = {
    control: `answer-${item.key}`,
    question: `question-${item.key}`,
    error: `error-${item.key}`,
    hint: `hint-${item.key}`,
  };
  const error = h("p", { class: "error", id: ids.error, hidden: true });
  const question = [item.text, item.required ? null : h("span", { class: "optional" }, ` (${t("item.optional")})`)];
  const part = render(item, ids, question);
  const element = h("div", { class: `item item-${item.type}`, id: `item-${item.key}` }, part.element, error);
  return {
    key: item.key,
    element,
    answer: part.answer,
    focus: part.focus,
    showError(message) {
      error.hidden = message === null;
      error.textContent = message === null ? "" : `${t("item.error")}: ${message}`;
      for (const control of element.querySelectorAll("input, textarea")) {
        if (message === null) control.removeAttribute("aria-invalid");
        else control.setAttribute("aria-invalid", "true");
      }
    },
  };
}

function describedBy(ids, ...more) {
  return [...more, ids.error].join(" ");
}

/**
 * A 0-100 slider with no value until touched. A range input always holds a value (its middle
 * by default), so an untouched one is marked: its thumb is hidden (app.css), it says "not
 * answered" on screen and to screen readers, and answer() leaves it out. Touching it (a tap,
 * a drag, an arrow key) answers it; a tap on the very value it holds fires no `input`, so a
 * click counts too.
 */
function slider(item, ids, question) {
  const [low, high] = item.anchors ?? [t("item.low"), t("item.high")];
  const state = h("p", { class: "slider-state", id: ids.hint, "aria-hidden": "true" }, t("item.not_answered"));
  const input = h("input", {
    type: "range",
    id: ids.control,
    min: 0,
    max: 100,
    step: 1,
    class: "untouched",
    "data-answered": "false",
    "aria-valuetext": t("item.not_answered"),
    "aria-describedby": describedBy(ids, `anchors-${item.key}`),
  });
  let touched = false;
  const touch = () => {
    touched = true;
    input.classList.remove("untouched");
    input.dataset.answered = "true";
    const valueText = t("item.slider_value", { value: input.value, low, high });
    input.setAttribute("aria-valuetext", valueText);
    state.textContent = t("item.your_answer", { value: input.value });
  };
  input.addEventListener("input", touch);
  input.addEventListener("click", touch);
  return {
    element: h(
      "div",
      {},
      h("label", { for: ids.control, id: ids.question, class: "question" }, question),
      state,
      input,
      h(
        "div",
        { class: "anchors", id: `anchors-${item.key}` },
        h("span", {}, t("item.anchor_low", { text: low })),
        h("span", {}, t("item.anchor_high", { text: high })),
      ),
    ),
    answer: () => (touched ? Number(input.value) : undefined),
    focus: () => input.focus(),
  };
}

/** Radio buttons in a fieldset: likert points, choices, yes/no. */
function radios(item, ids, question, options, extra = null) {
  const inputs = options.map(({ value, label }, index) =>
    h("input", {
      type: "radio",
      name: ids.control,
      id: `${ids.control}-${index}`,
      value: String(index),
      "aria-describedby": describedBy(ids),
    }),
  );
  const labelled = inputs.map((input, index) =>
    h("label", { class: "option", for: input.id }, input, h("span", {}, options[index].label)),
  );
  const picked = () => inputs.findIndex((input) => input.checked);
  return {
    element: h(
      "fieldset",
      { "aria-describedby": extra ? extra.id : null },
      h("legend", { class: "question", id: ids.question }, question),
      extra,
      h("div", { class: `options options-${item.type}` }, labelled),
    ),
    answer: () => (picked() < 0 ? undefined : options[picked()].value),
    focus: () => (inputs[Math.max(picked(), 0)] ?? inputs[0]).focus(),
  };
}

function likert(item, ids, question) {
  const points = [];
  for (let value = item.min; value <= item.max; value += 1) points.push({ value, label: String(value) });
  // The anchors name the ends in words, so the numbers alone carry no meaning by colour or
  // position only.
  const [low, high] = item.anchors ?? [null, null];
  const extra =
    low && high
      ? h("p", { class: "hint", id: `anchors-${item.key}` }, t("item.likert_anchors", { min: item.min, low, max: item.max, high }))
      : null;
  return radios(item, ids, question, points, extra);
}

function choices(item, ids, question) {
  return radios(item, ids, question, item.choices.map((c) => ({ value: c.key, label: c.label })));
}

function boolean(item, ids, question) {
  return radios(item, ids, question, [
    { value: true, label: t("item.yes") },
    { value: false, label: t("item.no") },
  ]);
}

function text(item, ids, question) {
  const area = h("textarea", { id: ids.control, rows: 3, maxlength: 1000, "aria-describedby": describedBy(ids) });
  return {
    element: h("div", {}, h("label", { for: ids.control, id: ids.question, class: "question" }, question), area),
    answer: () => (area.value.trim() === "" ? undefined : area.value.trim()),
    focus: () => area.focus(),
  };
}
