// Small DOM helpers. Text goes in as text (textContent), never as markup:
// the pages run under Trusted Types with no policy, so innerHTML would throw.

/** The element with this id. */
export const byId = (id) => document.getElementById(id);

/** Create an element with properties and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "testid") node.dataset.testid = value;
    else if (name === "class") node.className = value;
    else node[name] = value;
  }
  node.append(...children);
  return node;
}

/** Show exactly one of the page's top-level sections and move focus to it. */
export function showSection(section) {
  const app = section.closest(".app");
  for (const child of app.children) {
    if (child.tagName === "SECTION") child.hidden = child !== section;
  }
  if (section.dataset.title) document.title = section.dataset.title;
  const heading = section.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

/** Say text through the page's polite live region (a screen reader reads it out). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A fresh node each time, so that the same words twice are announced twice.
  setTimeout(() => region.append(text), 50);
}

/** Show a hint (role=alert) under a form, or hide it with an empty text. */
export function hint(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

/** Copy text to the clipboard; false if the browser refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
