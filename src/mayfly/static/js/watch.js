// Watching what changes rarely (a receipt): poll with back-off, never while the tab is hidden.
// Polls, not a connection held open: each open page would hold one of uWSGI's few workers.

/** The first pause, its growth while nothing changes, and its ceiling (as mayfly status --wait). */
export const FIRST_MS = 2000;
export const GROWTH = 1.5;
export const LONGEST_MS = 30000;
// A Retry-After longer than this is not waited out in full (a proxy's mistake, or hostile).
const MOST_RETRY_MS = 300000;

/**
 * Call `poll` again and again until it answers "stop"; it answers "changed", "same", or
 * {retryAfter: seconds} after a failure worth retrying. While the page is hidden nothing is
 * asked; when it shows again, `poll` is called at once. Returns {restart(), stop()}:
 * restart() starts the pauses again from the shortest (someone just looked).
 */
export function watch(poll) {
  let pause = FIRST_MS;
  let timer = null;
  let busy = false;
  let stopped = false;

  function schedule(ms) {
    clearTimeout(timer);
    timer = stopped || document.hidden ? null : setTimeout(tick, ms);
  }

  async function tick() {
    timer = null;
    if (stopped || busy || document.hidden) return;
    busy = true;
    let outcome;
    try {
      outcome = await poll();
    } finally {
      busy = false;
    }
    if (outcome === "stop") {
      stop();
      return;
    }
    pause = outcome === "changed" ? FIRST_MS : Math.min(pause * GROWTH, LONGEST_MS);
    const retry = Math.min(Number(outcome && outcome.retryAfter) * 1000 || 0, MOST_RETRY_MS);
    schedule(Math.max(pause, retry));
  }

  function visibility() {
    if (!document.hidden) {
      now();
      return;
    }
    clearTimeout(timer); // nothing is asked while hidden
    timer = null;
  }

  function now() {
    if (stopped) return;
    pause = FIRST_MS;
    clearTimeout(timer);
    tick();
  }

  function restart() {
    pause = FIRST_MS;
    if (!busy) schedule(pause);
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", visibility);
  }

  document.addEventListener("visibilitychange", visibility);
  schedule(pause);
  return { restart, stop };
}
