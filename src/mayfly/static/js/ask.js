// Ask for a secret: seal the note here, make the key pair the answer is sealed to,
// upload only ciphertext and the wrapped private key, show both links.
import { warnBeforeLeaving } from "./common.js";
import { ApiError, createRequest } from "./api.js";
import {
  b64encode, deriveKeys, kdfToJson, newKdf, newLinkKey, newReplyKeys, pack, proofHash, seal,
} from "./crypto.js";
import { byId, hint, showSection } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { drawQr } from "./qr.js";

const form = byId("ask-form");
const note = byId("note");
const createButton = byId("create");
const askHint = byId("ask-hint");

/** Seal the note under a fresh link key; the answer key pair under a fresh receipt key. */
async function encrypt() {
  const passphrase = byId("passphrase").value || null;
  const kdf = passphrase === null ? null : newKdf();
  const linkKey = newLinkKey();
  const keys = await deriveKeys(linkKey, passphrase, kdf);
  const receiptKey = newLinkKey();
  const pair = await newReplyKeys(receiptKey);
  const body = {
    ciphertext: b64encode(await seal(keys.contentKey, pack({ text: note.value, files: [] }))),
    link_proof_hash: b64encode(await proofHash(keys.linkProof)),
    access_proof_hash: b64encode(await proofHash(keys.accessProof)),
    kdf: kdf === null ? null : kdfToJson(kdf),
    expires_in: Number(byId("lifetime").value),
    reply_key: { public_key: b64encode(pair.publicKey),
      wrapped_private_key: b64encode(pair.wrappedPrivateKey) },
  };
  return { body, linkKey, passphrase, receiptKey };
}

function showLinks(created, linkKey, passphrase, receiptKey) {
  const link = `${created.url}#${b64encode(linkKey)}`;
  // The answer link: the manage token, then the key that unwraps the private key.
  const answerLink = `${created.answer_url}#${created.manage_token}.${b64encode(receiptKey)}`;
  byId("request-link").value = link;
  byId("answer-link").value = answerLink;
  byId("open-answer-link").href = answerLink;
  document.querySelector("[data-testid=asked-expires]").textContent =
    t("expires", { when: formatTime(created.expires_at) });
  document.querySelector("[data-testid=asked-passphrase]").hidden = passphrase === null;
  drawQr(byId("qr"), link, byId("qr").dataset.label);
  showSection(byId("asked"));
}

function explain(error) {
  if (!(error instanceof ApiError)) return t("oops_server");
  switch (error.kind) {
    case "unreachable": return t("oops_unreachable");
    case "rate-limited": return t("rate_limited", { n: error.retryAfter || 60 });
    case "unavailable": return t("oops_unavailable");
    case "refused": return t("oops_refused", { detail: error.message });
    default: return t("oops_server");
  }
}

note.addEventListener("input", () => hint(askHint, ""));
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!note.value.trim()) {
    hint(askHint, t("ask_empty"));
    note.focus();
    return;
  }
  hint(askHint, "");
  createButton.disabled = true;
  createButton.textContent = t("encrypting");
  try {
    const { body, linkKey, passphrase, receiptKey } = await encrypt();
    showLinks(await createRequest(body), linkKey, passphrase, receiptKey);
  } catch (error) {
    hint(askHint, explain(error));
  } finally {
    createButton.disabled = false;
    createButton.textContent = t("ask_create");
  }
  if (byId("asked").hidden) createButton.focus();
});

warnBeforeLeaving(() => {
  if (!byId("asked").hidden) return t("leave_link");
  return note.value.trim() || byId("passphrase").value ? t("leave_draft") : "";
});
