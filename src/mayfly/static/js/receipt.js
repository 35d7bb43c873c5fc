// The sender's receipt: what became of the message, and "Burn now".
import "./common.js";
import { ApiError, burnSecret, getReceipt } from "./api.js";
import { byId, hint, showSection } from "./dom.js";
import { formatTime, t } from "./i18n.js";

const app = document.querySelector(".app");
const secretId = app.dataset.secretId;
const token = location.hash.slice(1);
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

function render(receipt) {
  state.dataset.state = receipt.state;
  hint(state, describe(receipt));
  byId("receipt-created").textContent = formatTime(receipt.created_at);
  byId("receipt-expires").textContent = formatTime(receipt.expires_at);
  byId("receipt-views").textContent = `${receipt.max_views - receipt.views_left} / ${receipt.max_views}`;
  byId("burn-area").hidden = receipt.state !== "waiting";
  byId("burn-confirm-area").hidden = true;
  byId("burn").hidden = false;
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
