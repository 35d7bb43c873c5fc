// Keeping a receipt on screen current: the loop the receipt page and the answer link share.
import { ApiError } from "./api.js";
import { watch } from "./watch.js";

// A failure worth another try later: what is on screen is still right as far as it goes.
const PASSING = new Set(["unreachable", "unavailable", "rate-limited", "server"]);

/**
 * Show a receipt and keep it current. `ask(tag)` is the page's receiptSince; `elsewhere(receipt)`
 * deals with one of a kind the page does not show and answers true; `settled()` answers true once
 * nothing more should be asked. Returns {load(), stop()}: load looks now (the first look,
 * Refresh, after a burn), then keeps watching unless the receipt is final.
 */
export function keepCurrent({ ask, elsewhere, settled = () => false, render, isFinal, showWatch, fail }) {
  // The receipt's ETag as last seen; whether anything was shown; the watcher while it runs.
  let tag = "";
  let loaded = false;
  let watcher = null;

  /** Ask whether the receipt changed and show it if it did; what the watcher should do next. */
  async function poll() {
    if (settled()) return "stop";
    try {
      const fresh = await ask(tag);
      if (settled()) return "stop"; // settled while this was asked: what is shown stays
      if (fresh !== null && elsewhere(fresh.receipt)) return "stop";
      if (fresh !== null) {
        tag = fresh.tag;
        loaded = true;
        render(fresh.receipt);
      }
      if (fresh !== null && isFinal(fresh.receipt)) {
        showWatch("final");
        return "stop";
      }
      showWatch("on");
      return fresh === null ? "same" : "changed";
    } catch (error) {
      if (!loaded || !(error instanceof ApiError) || !PASSING.has(error.kind)) {
        fail(error); // nothing to show yet, the receipt ended (gone), or refused
        return "stop";
      }
      showWatch("retry");
      return { retryAfter: error.retryAfter };
    }
  }

  function stop() {
    if (watcher) watcher.stop();
    watcher = null;
  }

  async function load() {
    const next = await poll();
    if (next === "stop") {
      stop();
    } else if (watcher) {
      watcher.restart();
    } else {
      watcher = watch(async () => {
        const outcome = await poll();
        if (outcome === "stop") watcher = null;
        return outcome;
      });
    }
  }

  return { load, stop };
}
