"""The browser side, in headless Chromium: Web Crypto timings and a first visit's bytes.

Encryption is what the sending page does before it sends (derive the keys
from a fresh link key, seal, base64url-encode); decryption is what the reading
page does with the answer (decode, derive, unseal), both with the functions of
the pages' own static/js/crypto.js.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# Runs `reps` encryptions then `reps` decryptions and returns the mean of each.
WITH_MODULE = (Path(__file__).with_name("js") / "with_module.js").read_text()
MODULE = "/static/js/crypto.js"


def launch(playwright):
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (scripts/bench.sh installs it)")
    return playwright.chromium.launch(executable_path=chromium, args=ARGS)


def crypto_timings(browser, origin: str, sizes: list[int], batches: int = 3) -> dict:
    """Per size: the median over batches of the mean ms to encrypt and to decrypt."""
    page = browser.new_page(ignore_https_errors=True)
    # A same-origin page without a CSP of its own, so that the module may be imported.
    page.goto(origin + MODULE)
    results = {}
    for size in sizes:
        reps = 50 if size <= 64 * 1024 else 3
        runs = [page.evaluate(WITH_MODULE, {"size": size, "reps": reps, "url": MODULE})
                for _ in range(batches)]
        results[str(size)] = {
            "encrypt_ms": statistics.median(r["encrypt"] for r in runs),
            "decrypt_ms": statistics.median(r["decrypt"] for r in runs),
        }
    page.close()
    return {"source": "static/js/crypto.js", "sizes": results}


def first_visit_bytes(browser, url: str) -> dict:
    """Bytes on the wire (compressed, headers included) for a first visit of `url`."""
    context = browser.new_context(ignore_https_errors=True)  # empty cache: a first visit
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    resources: dict[str, dict] = {}

    def on_response(event):
        response = event["response"]
        resources[event["requestId"]] = {"url": response["url"], "bytes": 0,
                                         "encoding": response["headers"].get(
                                             "content-encoding",
                                             response["headers"].get("Content-Encoding", ""))}

    def on_finished(event):
        resources.setdefault(event["requestId"], {"url": "?", "encoding": ""})["bytes"] = int(
            event["encodedDataLength"])

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(300)
    context.close()
    items = sorted(resources.values(), key=lambda r: -r["bytes"])
    return {"total": sum(r["bytes"] for r in items), "resources": items}
