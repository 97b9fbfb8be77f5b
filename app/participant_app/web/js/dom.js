// Building the screens' DOM without innerHTML: every text from the API or the locale files
// becomes a text node, so nothing a study wrote can run as markup.

/**
 * h("button", {class: "primary", on: {click}}, "Send") -> <button class="primary">Send</button>
 * Attributes: `on` adds listeners, `true` sets a boolean attribute, `false`/null/undefined
 * leave it out, anything else is set as a string. Children: nodes, strings, arrays, null.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "on") {
      for (const [event, listener] of Object.entries(value)) {
        element.addEventListener(event, listener);
      }
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A text or error message that screen readers announce when it changes. */
export function liveRegion(className = "notice", role = "status") {
  return h("p", { class: className, role, hidden: true });
}

/** Show `text` in a live region (or hide it for null). */
export function say(region, text) {
  region.hidden = text === null || text === undefined;
  region.textContent = text ?? "";
}
