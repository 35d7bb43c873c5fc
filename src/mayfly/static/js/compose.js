// Compose and share: encrypt here, upload only ciphertext, show the link and its QR code.
import { warnBeforeLeaving } from "./common.js";
import { ApiError, createSecret } from "./api.js";
import {
  b64encode, deriveKeys, kdfToJson, newKdf, newLinkKey, newReplyKeys, pack, proofHash, seal,
  sealedSize,
} from "./crypto.js";
import { byId, el, hint, showSection } from "./dom.js";
import { formatAgainst, formatBytes, formatTime, t } from "./i18n.js";
import { drawQr } from "./qr.js";

const app = document.querySelector(".app");
const maxBytes = Number(app.dataset.maxBytes);
const form = byId("compose-form");
const text = byId("text");
const fileInput = byId("files");
const drop = byId("drop");
const fileList = byId("file-list");
const size = byId("size");
const createButton = byId("create");
const composeHint = byId("compose-hint");
const files = [];

function currentSize() {
  return sealedSize(text.value, files.map((f) => ({ name: f.name, type: f.type, size: f.size })));
}

function refreshSize() {
  const used = currentSize();
  size.textContent = t("size_of", formatAgainst(used, maxBytes));
  size.classList.toggle("over", used > maxBytes);
}

function renderFiles() {
  fileList.replaceChildren(...files.map((file, index) => {
    const remove = el("button", { type: "button", class: "link", textContent: t("remove") });
    remove.setAttribute("aria-label", `${t("remove")}: ${file.name}`);
    remove.addEventListener("click", () => {
      files.splice(index, 1);
      renderFiles();
      // Focus goes to the file now in this place, else the one before, else "Attach files".
      const buttons = fileList.querySelectorAll("button");
      (buttons[Math.min(index, buttons.length - 1)] ?? fileInput).focus();
    });
    return el("li", { testid: "file" }, el("span", { class: "name", textContent: file.name }),
      el("span", { class: "muted", textContent: formatBytes(file.size) }), remove);
  }));
  refreshSize();
}

function addFiles(list) {
  files.push(...list);
  renderFiles();
  hint(composeHint, "");
}

// The text area grows with its content (CSS field-sizing where the browser has it).
function grow() {
  if (!CSS.supports("field-sizing", "content")) {
    text.style.height = "auto";
    text.style.height = `${text.scrollHeight + 2}px`;
  }
}

text.addEventListener("input", () => {
  grow();
  refreshSize();
  hint(composeHint, "");
});
fileInput.addEventListener("change", () => {
  addFiles([...fileInput.files]);
  fileInput.value = "";
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("dragging");
});
drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dragging");
  addFiles([...event.dataTransfer.files]);
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
  const attachments = await Promise.all(files.map(async (file) => ({
    name: file.name,
    type: file.type || "application/octet-stream",
    data: new Uint8Array(await file.arrayBuffer()),
  })));
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
    case "too-large": return t("too_large", formatAgainst(currentSize(), maxBytes));
    case "unreachable": return t("oops_unreachable");
    case "rate-limited": return t("rate_limited", { n: error.retryAfter || 60 });
    case "unavailable": return t("oops_unavailable");
    case "refused": return t("oops_refused", { detail: error.message });
    default: return t("oops_server");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!text.value.trim() && files.length === 0) {
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
  if (currentSize() > maxBytes) {
    hint(composeHint, t("too_large", formatAgainst(currentSize(), maxBytes)));
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
  const draft = text.value.trim() || files.length > 0 || byId("passphrase").value;
  return draft ? t("leave_draft") : "";
});
refreshSize();
grow();
