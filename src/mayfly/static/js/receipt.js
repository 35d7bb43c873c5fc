// The sender's receipt: what became of the message, "Burn now", and the replies.
import "./common.js";
import { ApiError, burnSecret, receiptSince } from "./api.js";
import { DecryptionFailed } from "./crypto.js";
import { byId, el, hint, showSection } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { keepCurrent } from "./receipt-watch.js";
import { download, receiptKey, takeReply } from "./reply-open.js";

const app = document.querySelector(".app");
const secretId = app.dataset.secretId;
// The fragment is "<manage token>" or "<manage token>.<receipt key>" (replies allowed).
const [token, receiptKeyText = ""] = location.hash.slice(1).split(".", 2);
const key = receiptKey(receiptKeyText);
const card = byId("receipt");
const state = byId("receipt-state");
// The reply items shown, by number.
const shownReplies = new Map();

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

/** Take one reply (it burns on the server), decrypt it here and show it in its item. */
async function readReply(receipt, number, item) {
  const message = await takeReply(receipt, secretId, number, token, key);
  const body = [el("pre", { class: "text", textContent: message.text, testid: "reply-text" })];
  if (message.files.length) {
    const saved = message.files.map((file) => download(file, "reply-attachment"));
    body.push(el("ul", { class: "files attachments" }, ...saved));
  }
  body.push(el("p", { class: "warning", textContent: t("reply_burns") }));
  item.querySelector("[data-testid=reply-open]").replaceWith(...body);
  // Read here: what it says stays on screen whatever the next poll brings.
  item.dataset.opened = "true";
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
    if (key === null) {
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

/** Add the new replies and mark those read elsewhere; a reply opened here is left as it is. */
function renderReplies(receipt) {
  const replies = receipt.replies || [];
  byId("replies-area").hidden = !receipt.reply_key;
  if (!receipt.reply_key) return;
  const count = byId("replies-count");
  const text = replies.length === 0 ? t("replies_none") : t("replies_count", { n: replies.length });
  // Only a new text: the count is a live region, and each change is read out.
  if (count.textContent !== text) count.textContent = text;
  count.dataset.count = String(replies.length);
  for (const reply of replies) {
    const shown = shownReplies.get(reply.number);
    if (shown && (shown.dataset.opened || shown.dataset.readAt || !reply.read_at)) continue;
    const item = renderReply(receipt, reply);
    if (reply.read_at) item.dataset.readAt = reply.read_at;
    if (shown) shown.replaceWith(item);
    else byId("replies").append(item);
    shownReplies.set(reply.number, item);
  }
}

function render(receipt) {
  state.dataset.state = receipt.state;
  const text = describe(receipt);
  // Only a new text: the state is a live region, so a change made elsewhere is announced.
  if (state.textContent !== text) hint(state, text);
  byId("receipt-created").textContent = formatTime(receipt.created_at);
  byId("receipt-expires").textContent = formatTime(receipt.expires_at);
  byId("receipt-views").textContent = `${receipt.max_views - receipt.views_left} / ${receipt.max_views}`;
  // Left alone while waiting, so a poll never closes the burn question under the pointer.
  if (receipt.state !== "waiting") byId("burn-area").hidden = true;
  else if (byId("burn-area").hidden) byId("burn-area").hidden = false;
  renderReplies(receipt);
  card.setAttribute("aria-busy", "false");
}

/** Nothing can change any more: it is over and no reply can come (as mayfly status --wait). */
function isFinal(receipt) {
  if (receipt.state === "waiting" || receipt.state === "answered") return false;
  // A request ends with its answer; a message's readers may reply after it is gone.
  return receipt.kind === "request" || !receipt.reply_key || receipt.replies_left === 0;
}

/** Say under the state whether the page is watching: "on", "final" or "retry". */
function showWatch(mode) {
  const line = byId("receipt-watch");
  line.dataset.watch = mode;
  line.textContent = t(`watch_${mode}`);
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

const { load } = keepCurrent({
  ask: (since) => receiptSince(secretId, token, since),
  elsewhere(receipt) {
    if (receipt.kind !== "request") return false;
    // A request's id typed into a receipt address: its page is the answer link, whose
    // fragment is the same "<token>.<key>". Only the token holder learns the kind.
    location.replace(location.pathname.replace(/\/r\/([^/]*)$/, "/a/$1") + location.hash);
    return true;
  },
  render, isFinal, showWatch, fail,
});

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
