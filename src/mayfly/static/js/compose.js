// Compose and share: encrypt here, upload only ciphertext, show the link and its QR code.
import { warnBeforeLeaving } from "./common.js";
import { ApiError, createSecret } from "./api.js";
import {
  b64encode, deriveKeys, kdfToJson, newKdf, newLinkKey, newReplyKeys, pack, proofHash, seal,
  sealedSize,
} from "./crypto.js";
import { byId, hint, showSection } from "./dom.js";
import { fileList } from "./files.js";
import { formatAgainst, formatTime, t } from "./i18n.js";
import { drawQr } from "./qr.js";

const app = document.querySelector(".app");
const maxBytes = Number(app.dataset.maxBytes);
const form = byId("compose-form");
const text = byId("text");
const createButton = byId("create");
const composeHint = byId("compose-hint");
const attached = fileList({
  input: byId("files"),
  list: byId("file-list"),
  size: byId("size"),
  drop: byId("drop"),
  testid: "file",
  maxBytes,
  measure: (described) => sealedSize(text.value, described),
  onAdd: () => hint(composeHint, ""),
});

// The text area grows with its content (CSS field-sizing where the browser has it).
function grow() {
  if (!CSS.supports("field-sizing", "content")) {
    text.style.height = "auto";
    text.style.height = `${text.scrollHeight + 2}px`;
  }
}

text.addEventListener("input", () => {
  grow();
  attached.refresh();
  hint(composeHint, "");
});

/** The reply key pair, wrapped under a fresh receipt key; null if replies are off. */
async function replyKey() {
  if (!byId("allow-reply").checked) return { receiptKey: null, replyKey: null };
  const receiptKey = newLinkKey();
  const pair = await newReplyKeys(receiptKey);
  return {
    receiptKey,
    replyKey: { public_key: b64encode(pair.publicKey),
      wrapped_private_key: b64encode(pair.wrappedPrivateKey) },
  };
}

/** Encrypt the form's message; return what to upload (fields, ciphertext) and the keys. */
async function encrypt() {
  const attachments = await attached.attachments();
  const passphrase = byId("passphrase").value || null;
  const kdf = passphrase === null ? null : newKdf();
  const linkKey = newLinkKey();
  const keys = await deriveKeys(linkKey, passphrase, kdf);
  const ciphertext = await seal(keys.contentKey, pack({ text: text.value, files: attachments }));
  const { receiptKey, replyKey: reply } = await replyKey();
  const fields = {
    link_proof_hash: b64encode(await proofHash(keys.linkProof)),
    access_proof_hash: b64encode(await proofHash(keys.accessProof)),
    kdf: kdf === null ? null : kdfToJson(kdf),
    expires_in: Number(byId("lifetime").value),
    max_views: Number(byId("views").value),
    reply_key: reply,
  };
  // Present only when the server mails notices; the server checks the address.
  const notify = byId("notify-email");
  if (notify !== null && notify.value.trim() !== "") fields.notify_email = notify.value.trim();
  return { fields, ciphertext, linkKey, passphrase, receiptKey };
}

function showShare(created, linkKey, passphrase, receiptKey) {
  const link = `${created.url}#${b64encode(linkKey)}`;
  // The receipt key follows the token: only this link can open the replies.
  const suffix = receiptKey === null ? "" : `.${b64encode(receiptKey)}`;
  const receipt = `${created.receipt_url}#${created.manage_token}${suffix}`;
  byId("share-link").value = link;
  byId("receipt-link").value = receipt;
  byId("open-receipt").href = receipt;
  document.querySelector("[data-testid=share-expires]").textContent =
    t("expires", { when: formatTime(created.expires_at) });
  document.querySelector("[data-testid=share-views]").textContent =
    t("views_allowed", { n: created.views_left });
  document.querySelector("[data-testid=share-passphrase]").hidden = passphrase === null;
  drawQr(byId("qr"), link, byId("qr").dataset.label);
  showSection(byId("share"));
}

function explain(error) {
  if (!(error instanceof ApiError)) return t("oops_server");
  switch (error.kind) {
    case "too-large": return t("too_large", formatAgainst(attached.used(), maxBytes));
    case "unreachable": return t("oops_unreachable");
    case "rate-limited": return t("rate_limited", { n: error.retryAfter || 60 });
    case "unavailable": return t("oops_unavailable");
    case "refused": return t("oops_refused", { detail: error.message });
    default: return t("oops_server");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!text.value.trim() && attached.files.length === 0) {
    hint(composeHint, t("empty"));
    text.focus();
    return;
  }
  const views = byId("views");
  if (!views.checkValidity() || !Number.isInteger(Number(views.value))) {
    hint(composeHint, `${views.labels[0].textContent}: 1–${views.max}`);
    views.focus();
    return;
  }
  if (attached.used() > maxBytes) {
    hint(composeHint, t("too_large", formatAgainst(attached.used(), maxBytes)));
    return;
  }
  hint(composeHint, "");
  createButton.disabled = true;
  createButton.textContent = t("encrypting");
  try {
    const { fields, ciphertext, linkKey, passphrase, receiptKey } = await encrypt();
    const created = await createSecret(fields, ciphertext);
    showShare(created, linkKey, passphrase, receiptKey);
  } catch (error) {
    hint(composeHint, explain(error));
  } finally {
    createButton.disabled = false;
    createButton.textContent = t("create");
  }
  // A disabled button drops focus to <body>; give it back unless the share view took it.
  if (byId("share").hidden) createButton.focus();
});

warnBeforeLeaving(() => {
  if (!byId("share").hidden) return t("leave_link");
  const draft = text.value.trim() || attached.files.length > 0 || byId("passphrase").value;
  return draft ? t("leave_draft") : "";
});
grow();
