// The reader's reply, on the message page: encrypted here to the sender's public key.
import { ApiError, postReply } from "./api.js";
import { b64encode, pack, PUBLIC_KEY_BYTES, sealedSize, sealReply } from "./crypto.js";
import { byId, el, hint } from "./dom.js";
import { formatAgainst, formatBytes, t } from "./i18n.js";

const maxBytes = Number(document.querySelector(".app").dataset.maxBytes);

/** The sealed reply's size: the ephemeral public key, then an envelope. */
const replySize = (text, files) => PUBLIC_KEY_BYTES + sealedSize(text,
  files.map((f) => ({ name: f.name, type: f.type, size: f.size })));

function explain(error, used) {
  if (!(error instanceof ApiError)) return t("oops_server");
  switch (error.kind) {
    case "no-replies-left": return t("reply_no_more");
    case "too-large": return t("too_large", formatAgainst(used, maxBytes));
    case "unreachable": return t("oops_unreachable");
    case "gone": return t("reply_no_more");
    case "refused": return t("oops_refused", { detail: error.message });
    default: return t("oops_server");
  }
}

/**
 * Show the Reply button; it opens a composer under the message.
 * secretId: the message's id; publicKey: the sender's 65-byte key;
 * linkProof: the proof that this reader holds the whole link.
 */
export function offerReply(secretId, publicKey, linkProof) {
  const open = byId("reply-open");
  const section = byId("reply");
  const form = byId("reply-form");
  const text = byId("reply-text");
  const input = byId("reply-files");
  const list = byId("reply-file-list");
  const size = byId("reply-size");
  const send = byId("reply-send");
  const replyHint = byId("reply-hint");
  const files = [];

  const refresh = () => {
    const used = replySize(text.value, files);
    size.textContent = t("size_of", formatAgainst(used, maxBytes));
    size.classList.toggle("over", used > maxBytes);
  };
  const render = () => {
    list.replaceChildren(...files.map((file, index) => {
      const remove = el("button", { type: "button", class: "link", textContent: t("remove") });
      remove.setAttribute("aria-label", `${t("remove")}: ${file.name}`);
      remove.addEventListener("click", () => {
        files.splice(index, 1);
        render();
      });
      return el("li", { testid: "reply-file" }, el("span", { class: "name", textContent: file.name }),
        el("span", { class: "muted", textContent: formatBytes(file.size) }), remove);
    }));
    refresh();
  };

  open.hidden = false;
  open.addEventListener("click", () => {
    section.hidden = false;
    open.setAttribute("aria-expanded", "true");
    text.focus();
  });
  text.addEventListener("input", () => {
    refresh();
    hint(replyHint, "");
  });
  input.addEventListener("change", () => {
    files.push(...input.files);
    input.value = "";
    render();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim() && files.length === 0) {
      hint(replyHint, t("reply_empty"));
      text.focus();
      return;
    }
    if (replySize(text.value, files) > maxBytes) {
      hint(replyHint, t("too_large", formatAgainst(replySize(text.value, files), maxBytes)));
      return;
    }
    hint(replyHint, "");
    send.disabled = true;
    send.textContent = t("encrypting");
    try {
      const attachments = await Promise.all(files.map(async (file) => ({
        name: file.name, type: file.type || "application/octet-stream",
        data: new Uint8Array(await file.arrayBuffer()),
      })));
      const blob = await sealReply(publicKey, pack({ text: text.value, files: attachments }));
      await postReply(secretId, b64encode(linkProof), blob);
      form.hidden = true;
      open.hidden = true;
      byId("reply-sent").hidden = false;
      byId("reply-sent").focus();
    } catch (error) {
      // The text stays in the form: nothing the reader wrote is lost.
      hint(replyHint, explain(error, replySize(text.value, files)));
    } finally {
      send.disabled = false;
      send.textContent = t("reply_send");
    }
  });
  render();
}
