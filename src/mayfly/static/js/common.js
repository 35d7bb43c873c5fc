// What every page does: show the app (JavaScript runs), keep #key across a
// language switch, close the language menu, password show/hide toggles and copy buttons.
import { announce, copyText } from "./dom.js";
import { t } from "./i18n.js";

for (const node of document.querySelectorAll("[data-needs-js]")) node.hidden = false;

let leaveWarning = () => "";

/** Ask before a language switch throws away what the page holds: warning() says what, or "". */
export function warnBeforeLeaving(warning) {
  leaveWarning = warning;
}

const leave = document.getElementById("leave");
document.getElementById("leave-stay").addEventListener("click", () => leave.close());

// The language links redirect back here; a fragment on the followed link is
// kept across the redirect, so the link key survives the switch. A page that
// holds what a reload loses (a draft, a new link, a read message) asks first.
for (const link of document.querySelectorAll("a[data-keep-hash]")) {
  link.addEventListener("click", (event) => {
    link.hash = location.hash;
    const warning = leaveWarning();
    if (!warning) return;
    event.preventDefault();
    document.getElementById("leave-text").textContent = warning;
    document.getElementById("leave-go").href = link.href;
    leave.showModal();
    document.getElementById("leave-stay").focus();
  });
}

// A <details> menu opens and closes without us; Escape and a click elsewhere
// close it, as they would a native menu.
for (const menu of document.querySelectorAll("details[data-menu]")) {
  menu.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !menu.open) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
}

// "Skip to content" moves focus without navigating: following href="#main"
// would put #main in place of the link's #key (or the receipt's #token).
for (const skip of document.querySelectorAll("a.skip")) {
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
}

for (const button of document.querySelectorAll("[data-toggle-password]")) {
  const input = document.getElementById(button.dataset.togglePassword);
  button.addEventListener("click", () => {
    const reveal = input.type === "password";
    input.type = reveal ? "text" : "password";
    // The words say the state; an aria-pressed too would say it twice.
    button.textContent = reveal ? t("hide") : t("show");
  });
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    const text = "value" in source ? source.value : source.textContent;
    const copied = await copyText(text);
    if (!copied && "select" in source) source.select();
    button.textContent = copied ? t("copied") : t("copy");
    if (!copied) button.title = t("copy_failed");
    announce(copied ? t("copied") : t("copy_failed"));
    setTimeout(() => {
      button.textContent = t("copy");
    }, 2000);
  });
}
