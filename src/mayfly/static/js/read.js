// The notification and the message: nothing is spent until the reader presses Read.
import { warnBeforeLeaving } from "./common.js";
import { ApiError, revealSecret, secretMetadata } from "./api.js";
import {
  b64decode, b64encode, DecryptionFailed, deriveKeys, KEY_BYTES, kdfFromJson, unpack, unseal,
} from "./crypto.js";
import { byId, el, hint, showSection } from "./dom.js";
import { formatBytes, t } from "./i18n.js";
import { offerReply } from "./reply.js";

const app = document.querySelector(".app");
const secretId = app.dataset.secretId;
const form = byId("read-form");
const readButton = byId("read");
const readHint = byId("read-hint");
const passphraseInput = byId("reader-passphrase");

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

const ashes = () => showSection(document.querySelector("[data-testid=ashes]"));

function download(file) {
  // Always bytes to save, never a page: an HTML or SVG file opened from a blob:
  // URL with its own type would run its scripts in our origin. The sender's
  // type is only a label.
  const url = URL.createObjectURL(new Blob([file.data], { type: "application/octet-stream" }));
  const link = el("a", { href: url, download: file.name, class: "button secondary",
    testid: "download", textContent: t("download") });
  return el("li", { testid: "attachment" },
    el("span", { class: "name", textContent: file.name, testid: "attachment-name" }),
    el("span", { class: "muted", textContent: formatBytes(file.data.length) }), link);
}

function showMessage(message, viewsLeft) {
  // The key leaves the address bar: a reload or a shared screen shows no key.
  history.replaceState(null, "", location.pathname + location.search);
  byId("message-text").textContent = message.text;
  byId("message-text").hidden = message.text === "";
  const list = byId("attachments");
  list.replaceChildren(...message.files.map(download));
  list.hidden = message.files.length === 0;
  byId("views-left").textContent = viewsLeft > 0 ? t("views_left", { n: viewsLeft })
    : t("last_view");
  showSection(byId("message"));
}

async function read(key) {
  const meta = await secretMetadata(secretId);
  const kdf = meta.passphrase ? kdfFromJson(meta.kdf) : null;
  const passphrase = kdf === null ? null : passphraseInput.value;
  const keys = await deriveKeys(key, passphrase, kdf);
  const revealed = await revealSecret(secretId, b64encode(keys.linkProof),
    b64encode(keys.accessProof));
  const plaintext = await unseal(keys.contentKey, b64decode(revealed.ciphertext));
  showMessage(unpack(plaintext), revealed.views_left);
  if (revealed.reply_public_key) {
    offerReply(secretId, b64decode(revealed.reply_public_key), keys.linkProof);
  }
}

function fail(error) {
  if (error instanceof DecryptionFailed || error instanceof TypeError) {
    oops(t("oops_damaged"));
  } else if (!(error instanceof ApiError)) {
    oops(t("oops_server"));
  } else if (error.kind === "gone") {
    ashes();
  } else if (error.kind === "wrong-passphrase") {
    const left = Number(error.problem.attempts_left ?? 0);
    if (left <= 0) {
      ashes();
      return;
    }
    hint(readHint, t("wrong_passphrase", { n: left }));
    passphraseInput.select();
    passphraseInput.focus();
  } else if (error.kind === "forbidden") {
    oops(t("oops_damaged"));
  } else if (error.kind === "unreachable") {
    hint(readHint, t("oops_unreachable"));
  } else if (error.kind === "rate-limited") {
    // Nothing was spent: say how long to wait, and keep the Read button.
    hint(readHint, t("rate_limited", { n: error.retryAfter || 60 }));
  } else if (error.kind === "unavailable") {
    hint(readHint, t("oops_unavailable"));
  } else {
    oops(t("oops_server"));
  }
}

warnBeforeLeaving(() => (byId("message").hidden ? "" : t("leave_message")));

const key = linkKey();
if (key === null) {
  oops(t("oops_damaged"));
} else {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (passphraseInput && !passphraseInput.value) {
      hint(readHint, t("need_passphrase"));
      passphraseInput.focus();
      return;
    }
    hint(readHint, "");
    readButton.disabled = true;
    readButton.textContent = t("decrypting");
    try {
      await read(key);
    } catch (error) {
      fail(error);
    } finally {
      readButton.disabled = false;
      readButton.textContent = t("read");
    }
    // Still on the form (a hint, not a new view): focus back where it was, not <body>.
    if (document.activeElement === document.body && !byId("notification").hidden) {
      (passphraseInput ?? readButton).focus();
    }
  });
}
