// The files a form will encrypt (compose and reply): attach, drop, list, remove,
// and the line that says the encrypted size against the limit.
import { el } from "./dom.js";
import { formatAgainst, formatBytes, t } from "./i18n.js";

/** What the size of a sealed message depends on: each file's name, type and size. */
const describe = (file) => ({ name: file.name, type: file.type, size: file.size });

/**
 * Keep the files chosen in a form and show them.
 * input: the <input type=file>; list: the <ul> of chosen files; size: the size line;
 * drop: an element files can be dropped on, or null; testid: each row's data-testid;
 * maxBytes: the server's limit; measure(described): the sealed size in bytes of the
 * form's text with files described as {name, type, size}; onAdd(): called after files come in.
 */
export function fileList({ input, list, size, drop = null, testid, maxBytes, measure,
  onAdd = () => {} }) {
  const files = [];
  const used = () => measure(files.map(describe));

  const refresh = () => {
    const bytes = used();
    size.textContent = t("size_of", formatAgainst(bytes, maxBytes));
    size.classList.toggle("over", bytes > maxBytes);
  };

  const render = () => {
    list.replaceChildren(...files.map((file, index) => {
      const remove = el("button", { type: "button", class: "link", textContent: t("remove") });
      remove.setAttribute("aria-label", `${t("remove")}: ${file.name}`);
      remove.addEventListener("click", () => {
        files.splice(index, 1);
        render();
        // Focus goes to the file now in this place, else the one before, else "Attach files".
        const buttons = list.querySelectorAll("button");
        (buttons[Math.min(index, buttons.length - 1)] ?? input).focus();
      });
      return el("li", { testid }, el("span", { class: "name", textContent: file.name }),
        el("span", { class: "muted", textContent: formatBytes(file.size) }), remove);
    }));
    refresh();
  };

  const add = (chosen) => {
    files.push(...chosen);
    render();
    onAdd();
  };

  input.addEventListener("change", () => {
    add([...input.files]);
    input.value = "";
  });
  if (drop !== null) {
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("dragging");
      add([...event.dataTransfer.files]);
    });
  }

  /** The files' bytes, as the message format packs them. */
  const attachments = () => Promise.all(files.map(async (file) => ({
    name: file.name,
    type: file.type || "application/octet-stream",
    data: new Uint8Array(await file.arrayBuffer()),
  })));

  refresh();
  return { files, used, refresh, attachments };
}
