// The asker's answer link: the request's state, "Burn now", and the answer, read once
// (the server hands it out once; it is opened here with the key in the fragment).
import { warnBeforeLeaving } from "./common.js";
import { ApiError, burnSecret, receiptSince } from "./api.js";
import { DecryptionFailed } from "./crypto.js";
import { byId, hint, showSection } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { keepCurrent } from "./receipt-watch.js";
import { download, receiptKey, takeReply } from "./reply-open.js";

const app = document.querySelector(".app");
const requestId = app.dataset.requestId;
// The fragment is "<manage token>.<receipt key>".
const [token, receiptKeyText = ""] = location.hash.slice(1).split(".", 2);
const key = receiptKey(receiptKeyText);
const card = byId("answer-page");
const state = byId("request-state");
const answerHint = byId("answer-hint");

function oops(reason) {
  byId("oops").querySelector("[data-testid=oops-reason]").textContent = reason;
  showSection(byId("oops"));
}

function describe(receipt) {
  const answered = (receipt.replies || [])[0];
  switch (receipt.state) {
    case "waiting": return t("request_waiting");
    case "answered": return t("request_answered", { when: formatTime(answered.created_at) });
    case "read": return t("request_read", { when: formatTime(receipt.ended_at) });
    case "burned": return t("state_burned", { when: formatTime(receipt.ended_at) });
    case "failed": return t("state_failed", { when: formatTime(receipt.ended_at) });
    case "expired": return t(answered ? "request_expired_unread" : "request_expired",
      { when: formatTime(receipt.expires_at) });
    default: return receipt.state;
  }
}

/** Take the answer (it burns on the server), decrypt it here and show it. */
async function readAnswer(receipt) {
  const message = await takeReply(receipt, requestId, 1, token, key);
  // The answer link's keys leave the address bar: a reload or a shared screen shows none.
  history.replaceState(null, "", location.pathname + location.search);
  stopWatching("final"); // read here: nothing the server says can change what is shown
  byId("answer-text").textContent = message.text;
  const files = byId("answer-files");
  files.replaceChildren(...message.files.map((file) => download(file, "answer-attachment")));
  files.hidden = message.files.length === 0;
  byId("answer-area").hidden = true;
  byId("burn-area").hidden = true;
  byId("refresh").hidden = true;
  byId("answer-shown").hidden = false;
  state.dataset.state = "read";
  hint(state, t("request_read", { when: formatTime(new Date().toISOString()) }));
  byId("answer-title").focus();
}

let current = null;

function render(receipt) {
  const changed = !current || current.state !== receipt.state;
  current = receipt;
  state.dataset.state = receipt.state;
  const text = describe(receipt);
  // Only a new text: the state is a live region, so a change made elsewhere is announced.
  if (state.textContent !== text) hint(state, text);
  byId("request-created").textContent = formatTime(receipt.created_at);
  byId("request-expires").textContent = formatTime(receipt.expires_at);
  byId("answer-area").hidden = receipt.state !== "answered";
  // Left alone while the state holds, so a poll never closes the burn question under the pointer.
  if (changed) {
    byId("burn-area").hidden = !["waiting", "answered"].includes(receipt.state);
    byId("burn-confirm-area").hidden = true;
    byId("burn").hidden = false;
  }
  card.setAttribute("aria-busy", "false");
}

/** Nothing can change any more: the request was read, burned or expired. */
const isFinal = (receipt) => !["waiting", "answered"].includes(receipt.state);

/** Say under the state whether the page is watching: "on", "final" or "retry". */
function showWatch(mode) {
  const line = byId("request-watch");
  line.dataset.watch = mode;
  line.textContent = t(`watch_${mode}`);
}

function stopWatching(mode) {
  stop();
  showWatch(mode);
}

function fail(error) {
  if (error instanceof ApiError && error.kind === "gone") {
    showSection(document.querySelector("[data-testid=ashes]"));
  } else if (error instanceof ApiError && error.kind === "forbidden") {
    oops(t("oops_answer_link"));
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

/** The answer was read here: what the server says next cannot change what is shown. */
const answerShown = () => !byId("answer-shown").hidden;

const { load, stop } = keepCurrent({
  ask: (since) => receiptSince(requestId, token, since),
  elsewhere(receipt) {
    if (receipt.kind === "request") return false;
    oops(t("oops_answer_link"));
    return true;
  },
  settled: answerShown, // read: what is shown stays
  render, isFinal, showWatch, fail,
});

warnBeforeLeaving(() => (byId("answer-shown").hidden ? "" : t("leave_message")));

if (!token || key === null) {
  oops(t("oops_answer_link"));
} else {
  byId("read-answer").addEventListener("click", async () => {
    const button = byId("read-answer");
    button.disabled = true;
    try {
      await readAnswer(current);
    } catch (error) {
      if (error instanceof DecryptionFailed) hint(answerHint, t("oops_answer_link"));
      else if (error instanceof ApiError && error.kind === "gone") load();
      else hint(answerHint, t("oops_server"));
    } finally {
      button.disabled = false;
    }
  });
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
      await burnSecret(requestId, token);
      await load();
      if (!card.hidden) state.focus();
    } catch (error) {
      fail(error);
    }
  });
  byId("refresh").addEventListener("click", load);
  load();
}
