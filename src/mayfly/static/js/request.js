// A request for a secret: open it (spends nothing), read the note, answer once.
// The answer is sealed here to the asker's public key; if someone answered
// first, the server refuses and what was written stays on the screen.
import { warnBeforeLeaving } from "./common.js";
import { answerRequest, ApiError, openRequest, requestMetadata } from "./api.js";
import {
  b64decode, b64encode, DecryptionFailed, deriveKeys, KEY_BYTES, kdfFromJson, pack,
  PUBLIC_KEY_BYTES, sealedSize, sealReply, unpack, unseal,
} from "./crypto.js";
import { byId, hint, showSection } from "./dom.js";
import { fileList } from "./files.js";
import { formatAgainst, t } from "./i18n.js";

const app = document.querySelector(".app");
const requestId = app.dataset.requestId;
const maxBytes = Number(app.dataset.maxBytes);
const openForm = byId("open-form");
const openButton = byId("open-request");
const openHint = byId("open-hint");
const passphraseInput = byId("request-passphrase");
const answerForm = byId("answer-form");
const text = byId("answer-text");
const send = byId("answer-send");
const answerHint = byId("answer-hint");
const attached = fileList({
  input: byId("answer-files"),
  list: byId("answer-file-list"),
  size: byId("answer-size"),
  drop: byId("answer-drop"),
  testid: "answer-file",
  maxBytes,
  // The sealed answer: the ephemeral public key, then an envelope.
  measure: (described) => PUBLIC_KEY_BYTES + sealedSize(text.value, described),
  onAdd: () => hint(answerHint, ""),
});
// What opening gave: the proofs (sent again with the answer) and the key to seal to.
let opened = null;

/** The link key from the address bar's fragment, or null if it is missing or damaged. */
function linkKey() {
  try {
    const key = b64decode(location.hash.slice(1));
    return key.length === KEY_BYTES ? key : null;
  } catch {
    return null;
  }
}

function oops(reason) {
  byId("oops").querySelector("[data-testid=oops-reason]").textContent = reason;
  showSection(byId("oops"));
}

async function open(key) {
  const meta = await requestMetadata(requestId);
  const kdf = meta.passphrase ? kdfFromJson(meta.kdf) : null;
  const keys = await deriveKeys(key, kdf === null ? null : passphraseInput.value, kdf);
  const linkProof = b64encode(keys.linkProof);
  const accessProof = b64encode(keys.accessProof);
  const found = await openRequest(requestId, linkProof, accessProof);
  const note = unpack(await unseal(keys.contentKey, b64decode(found.note)));
  opened = { linkProof, accessProof, publicKey: b64decode(found.public_key) };
  byId("request-note").textContent = note.text;
  openForm.hidden = true;
  byId("request-body").hidden = false;
  text.focus();
}

function failOpen(error) {
  if (error instanceof DecryptionFailed || error instanceof TypeError) {
    oops(t("oops_damaged"));
  } else if (!(error instanceof ApiError)) {
    oops(t("oops_server"));
  } else if (error.kind === "gone") {
    showSection(document.querySelector("[data-testid=ashes]"));
  } else if (error.kind === "already-answered") {
    showSection(byId("answered"));
  } else if (error.kind === "wrong-passphrase") {
    const left = Number(error.problem.attempts_left ?? 0);
    if (left <= 0) {
      showSection(document.querySelector("[data-testid=ashes]"));
      return;
    }
    openForm.hidden = false;
    hint(openHint, t("wrong_passphrase", { n: left }));
    passphraseInput.select();
    passphraseInput.focus();
  } else if (error.kind === "forbidden") {
    oops(t("oops_damaged"));
  } else if (error.kind === "rate-limited") {
    openForm.hidden = false;
    hint(openHint, t("rate_limited", { n: error.retryAfter || 60 }));
  } else if (error.kind === "unreachable" || error.kind === "unavailable") {
    openForm.hidden = false;
    hint(openHint, t(error.kind === "unreachable" ? "oops_unreachable" : "oops_unavailable"));
  } else {
    oops(t("oops_server"));
  }
}

async function tryOpen(key) {
  hint(openHint, "");
  openButton.disabled = true;
  openButton.textContent = t("decrypting");
  try {
    await open(key);
  } catch (error) {
    failOpen(error);
  } finally {
    openButton.disabled = false;
    openButton.textContent = t("open_request");
  }
}

/** Why an answer was not sent; the form and what it holds stay as they were. */
function explain(error) {
  if (!(error instanceof ApiError)) return t("oops_server");
  switch (error.kind) {
    case "already-answered": return t("already_answered");
    case "gone": return t("request_gone");
    case "too-large": return t("too_large", formatAgainst(attached.used(), maxBytes));
    case "unreachable": return t("oops_unreachable");
    case "rate-limited": return t("rate_limited", { n: error.retryAfter || 60 });
    case "unavailable": return t("oops_unavailable");
    case "refused": return t("oops_refused", { detail: error.message });
    default: return t("oops_server");
  }
}

answerForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!text.value.trim() && attached.files.length === 0) {
    hint(answerHint, t("answer_empty"));
    text.focus();
    return;
  }
  if (attached.used() > maxBytes) {
    hint(answerHint, t("too_large", formatAgainst(attached.used(), maxBytes)));
    return;
  }
  hint(answerHint, "");
  send.disabled = true;
  send.textContent = t("encrypting");
  try {
    const attachments = await attached.attachments();
    const blob = await sealReply(opened.publicKey, pack({ text: text.value, files: attachments }));
    await answerRequest(requestId, opened.linkProof, opened.accessProof, blob);
    showSection(byId("answer-sent"));
  } catch (error) {
    hint(answerHint, explain(error));
  } finally {
    send.disabled = false;
    send.textContent = t("answer_send");
  }
  if (byId("answer-sent").hidden) text.focus();
});
text.addEventListener("input", () => {
  attached.refresh();
  hint(answerHint, "");
});

warnBeforeLeaving(() => {
  if (byId("request").hidden || byId("request-body").hidden) return "";
  return text.value.trim() || attached.files.length ? t("leave_draft") : "";
});

const key = linkKey();
if (key === null) {
  oops(t("oops_damaged"));
} else {
  openForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (passphraseInput && !passphraseInput.value) {
      hint(openHint, t("need_passphrase"));
      passphraseInput.focus();
      return;
    }
    tryOpen(key);
  });
  // Opening spends nothing: without a passphrase to ask for, open at once.
  if (!passphraseInput) tryOpen(key);
}
