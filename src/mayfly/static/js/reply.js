// The reader's reply, on the message page: encrypted here to the sender's public key.
import { ApiError, postReply } from "./api.js";
import { b64encode, pack, PUBLIC_KEY_BYTES, sealedSize, sealReply } from "./crypto.js";
import { byId, hint } from "./dom.js";
import { fileList } from "./files.js";
import { formatAgainst, t } from "./i18n.js";

const maxBytes = Number(document.querySelector(".app").dataset.maxBytes);

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
  const send = byId("reply-send");
  const replyHint = byId("reply-hint");
  const attached = fileList({
    input: byId("reply-files"),
    list: byId("reply-file-list"),
    size: byId("reply-size"),
    testid: "reply-file",
    maxBytes,
    // The sealed reply: the ephemeral public key, then an envelope.
    measure: (described) => PUBLIC_KEY_BYTES + sealedSize(text.value, described),
    onAdd: () => hint(replyHint, ""),
  });

  open.hidden = false;
  open.addEventListener("click", () => {
    section.hidden = false;
    open.setAttribute("aria-expanded", "true");
    text.focus();
  });
  text.addEventListener("input", () => {
    attached.refresh();
    hint(replyHint, "");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim() && attached.files.length === 0) {
      hint(replyHint, t("reply_empty"));
      text.focus();
      return;
    }
    if (attached.used() > maxBytes) {
      hint(replyHint, t("too_large", formatAgainst(attached.used(), maxBytes)));
      return;
    }
    hint(replyHint, "");
    send.disabled = true;
    send.textContent = t("encrypting");
    try {
      const attachments = await attached.attachments();
      const blob = await sealReply(publicKey, pack({ text: text.value, files: attachments }));
      await postReply(secretId, b64encode(linkProof), blob);
      form.hidden = true;
      open.hidden = true;
      byId("reply-sent").hidden = false;
      byId("reply-sent").focus();
    } catch (error) {
      // The text stays in the form: nothing the reader wrote is lost.
      hint(replyHint, explain(error, attached.used()));
    } finally {
      send.disabled = false;
      send.textContent = t("reply_send");
    }
  });
}
