// The sender's wait: from the click on Create to the frame that shows the link (bench/browser.py).
(async () => {
  const share = document.getElementById("share");
  const hint = document.getElementById("compose-hint");
  const shown = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (!share.hidden) {
        observer.disconnect();
        resolve();
      } else if (hint.textContent) {
        observer.disconnect();
        reject(new Error(`create failed: ${hint.textContent}`));
      }
    });
    observer.observe(document.body, { attributes: true, childList: true, subtree: true });
  });
  const t0 = performance.now();
  document.querySelector("[data-testid=create]").click();
  await shown;
  // The link is on screen once the next frame is drawn.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const ms = performance.now() - t0;
  // The API requests' share: from each fetch() call to its answer's last byte (the
  // upload or download, the server's work, and the browser's handling of the body).
  const api = performance.getEntriesByType("resource")
    .filter((e) => e.initiatorType === "fetch" && e.startTime >= t0)
    .reduce((sum, e) => sum + e.duration, 0);
  return { ms, api };
})
