// The sender's receipt: what became of the message, "Burn now", and the replies.
import "./common.js";
import { ApiError, burnSecret, getReceipt, revealReply } from "./api.js";
import {
  b64decode, DecryptionFailed, KEY_BYTES, openReply, unpack, unwrapReplyKey,
} from "./crypto.js";
import { byId, el, hint, showSection } from "./dom.js";
import { formatBytes, formatTime, t } from "./i18n.js";

const app = document.querySelector(".app");
const secretId = app.dataset.secretId;
// The fragment is "<manage token>" or "<manage token>.<receipt key>" (replies allowed).
const [token, receiptKeyText = ""] = location.hash.slice(1).split(".", 2);
const card = byId("receipt");
const state = byId("receipt-state");

function oops(reason) {
  byId("oops").querySelector("[data-testid=oops-reason]").textContent = reason;
  showSection(byId("oops"));
}

function describe(receipt) {
  const used = receipt.max_views - receipt.views_left;
  switch (receipt.state) {
    case "waiting":
      return used === 0 ? t("state_waiting") : t("state_waiting_some",
        { used, max: receipt.max_views, when: formatTime(receipt.last_read_at) });
    case "read": return t("state_read", { when: formatTime(receipt.last_read_at) });
    case "burned": return t("state_burned", { when: formatTime(receipt.ended_at) });
    case "failed": return t("state_failed", { when: formatTime(receipt.ended_at) });
    case "expired": return t("state_expired", { when: formatTime(receipt.expires_at) });
    default: return receipt.state;
  }
}

/** The 32-byte receipt key from the fragment, or null. */
function receiptKey() {
  try {
    const key = b64decode(receiptKeyText);
    return key.length === KEY_BYTES ? key : null;
  } catch {
    return null;
  }
}

function download(file) {
  // Bytes to save, never a page (as in read.js): the replier's type is only a label.
  const url = URL.createObjectURL(new Blob([file.data], { type: "application/octet-stream" }));
  return el("li", { testid: "reply-attachment" },
    el("span", { class: "name", textContent: file.name }),
    el("span", { class: "muted", textContent: formatBytes(file.data.length) }),
    el("a", { href: url, download: file.name, class: "button secondary",
      textContent: t("download") }));
}

/** Take one reply (it burns on the server), decrypt it here and show it in its item. */
async function readReply(receipt, number, item) {
  const key = receiptKey();
  const publicKey = b64decode(receipt.reply_key.public_key);
  const scalar = await unwrapReplyKey(key, b64decode(receipt.reply_key.wrapped_private_key));
  const revealed = await revealReply(secretId, number, token);
  const message = unpack(await openReply(scalar, publicKey, b64decode(revealed.ciphertext)));
  const body = [el("pre", { class: "text", textContent: message.text, testid: "reply-text" })];
  if (message.files.length) {
    body.push(el("ul", { class: "files attachments" }, ...message.files.map(download)));
  }
  body.push(el("p", { class: "warning", textContent: t("reply_burns") }));
  item.querySelector("[data-testid=reply-open]").replaceWith(...body);
}

function renderReply(receipt, reply) {
  const title = el("span", { class: "name", textContent:
    t("reply_title", { number: reply.number, when: formatTime(reply.created_at) }) });
  const item = el("li", { testid: "reply" }, el("div", { class: "reply-head" }, title));
  if (reply.read_at) {
    item.append(el("p", { class: "muted", textContent:
      t("reply_was_read", { when: formatTime(reply.read_at) }) }));
    return item;
  }
  const button = el("button", { type: "button", class: "button primary", testid: "reply-open",
    textContent: t("reply_open") });
  const note = el("p", { class: "hint", hidden: true });
  note.setAttribute("role", "alert");
  button.addEventListener("click", async () => {
    if (receiptKey() === null) {
      hint(note, t("reply_no_key"));
      return;
    }
    button.disabled = true;
    try {
      await readReply(receipt, reply.number, item);
    } catch (error) {
      button.disabled = false;
      if (error instanceof DecryptionFailed) hint(note, t("reply_no_key"));
      else if (error instanceof ApiError && error.kind === "gone") load();
      else hint(note, t("oops_server"));
    }
  });
  item.append(button, note);
  return item;
}

function renderReplies(receipt) {
  const replies = receipt.replies || [];
  byId("replies-area").hidden = !receipt.reply_key;
  if (!receipt.reply_key) return;
  const count = byId("replies-count");
  count.dataset.count = String(replies.length);
  count.textContent = replies.length === 0 ? t("replies_none")
    : t("replies_count", { n: replies.length });
  byId("replies").replaceChildren(...replies.map((reply) => renderReply(receipt, reply)));
}

function render(receipt) {
  state.dataset.state = receipt.state;
  hint(state, describe(receipt));
  byId("receipt-created").textContent = formatTime(receipt.created_at);
  byId("receipt-expires").textContent = formatTime(receipt.expires_at);
  byId("receipt-views").textContent = `${receipt.max_views - receipt.views_left} / ${receipt.max_views}`;
  byId("burn-area").hidden = receipt.state !== "waiting";
  byId("burn-confirm-area").hidden = true;
  byId("burn").hidden = false;
  renderReplies(receipt);
  card.setAttribute("aria-busy", "false");
}

function fail(error) {
  if (error instanceof ApiError && error.kind === "gone") {
    showSection(document.querySelector("[data-testid=ashes]"));
  } else if (error instanceof ApiError && error.kind === "forbidden") {
    oops(t("oops_receipt"));
  } else if (error instanceof ApiError && error.kind === "unreachable") {
    oops(t("oops_unreachable"));
  } else if (error instanceof ApiError && error.kind === "unavailable") {
    oops(t("oops_unavailable"));
  } else if (error instanceof ApiError && error.kind === "rate-limited") {
    oops(t("rate_limited", { n: error.retryAfter || 60 }));
  } else {
    oops(t("oops_server"));
  }
}

async function load() {
  try {
    render(await getReceipt(secretId, token));
  } catch (error) {
    fail(error);
  }
}

if (!token) {
  oops(t("oops_receipt"));
} else {
  byId("burn-question").textContent = t("burn_confirm");
  byId("burn").addEventListener("click", () => {
    byId("burn").hidden = true;
    byId("burn-confirm-area").hidden = false;
    byId("burn-confirm").focus();
  });
  byId("burn-cancel").addEventListener("click", () => {
    byId("burn-confirm-area").hidden = true;
    byId("burn").hidden = false;
    byId("burn").focus();
  });
  byId("burn-confirm").addEventListener("click", async () => {
    try {
      await burnSecret(secretId, token);
      await load();
      // The buttons are gone: focus the new state, which is also announced.
      if (!card.hidden) state.focus();
    } catch (error) {
      fail(error);
    }
  });
  byId("refresh").addEventListener("click", load);
  load();
}
