// The reader's wait: from the click on Read to the frame that shows the message with its
// download links ready (bench/browser.py).
(async () => {
  const message = document.getElementById("message");
  const shown = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (!message.hidden && document.querySelector("[data-testid=download]")) {
        observer.disconnect();
        resolve();
      } else if (document.getElementById("oops")?.hidden === false ||
                 document.getElementById("read-hint").textContent) {
        observer.disconnect();
        reject(new Error("read failed"));
      }
    });
    observer.observe(document.body, { attributes: true, childList: true, subtree: true });
  });
  const t0 = performance.now();
  document.querySelector("[data-testid=read]").click();
  await shown;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const ms = performance.now() - t0;
  // The API requests' share: from each fetch() call to its answer's last byte (the
  // upload or download, the server's work, and the browser's handling of the body).
  const api = performance.getEntriesByType("resource")
    .filter((e) => e.initiatorType === "fetch" && e.startTime >= t0)
    .reduce((sum, e) => sum + e.duration, 0);
  return { ms, api };
})
