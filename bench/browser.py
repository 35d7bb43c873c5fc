"""The browser side, in headless Chromium: Web Crypto timings and a first visit's bytes.

Encryption is what the sending page does before it sends (derive the keys
from a fresh link key, seal, base64url-encode); decryption is what the reading
page does with the answer (decode, derive, unseal). With the web branch's
static/js/crypto.js in the tree those are its own functions; without it, an
equivalent inline harness with the same Web Crypto calls (HKDF-SHA256,
AES-256-GCM) stands in, and the report says which one ran.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from .stack import static_dir

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# Each batch runs `reps` encryptions then `reps` decryptions and returns the mean of each.
WITH_MODULE = """
async ({size, reps, url}) => {
  const m = await import(url);
  const plain = m.randomBytes(size);
  let text = null, linkKey = null;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    linkKey = m.newLinkKey();
    const keys = await m.deriveKeys(linkKey);
    text = m.b64encode(await m.seal(keys.contentKey, plain));
  }
  const t1 = performance.now();
  let back = null;
  for (let i = 0; i < reps; i++) {
    const keys = await m.deriveKeys(linkKey);
    back = await m.unseal(keys.contentKey, m.b64decode(text));
  }
  const t2 = performance.now();
  if (back.length !== size) throw new Error("round trip failed");
  return {encrypt: (t1 - t0) / reps, decrypt: (t2 - t1) / reps};
}
"""

INLINE = """
async ({size, reps}) => {
  const subtle = crypto.subtle, te = new TextEncoder();
  const random = (n) => { const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(o + 65536, n)));
    return out; };
  const b64 = (bytes) => { let s = "";
    for (let o = 0; o < bytes.length; o += 32768) s += String.fromCharCode(...bytes.subarray(o, o + 32768));
    return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""); };
  const unb64 = (t) => { const s = atob(t.replaceAll("-", "+").replaceAll("_", "/"));
    const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out; };
  const contentKey = async (linkKey) => {
    const ikm = await subtle.importKey("raw", linkKey, "HKDF", false, ["deriveBits"]);
    const bits = await subtle.deriveBits({name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0),
      info: te.encode("mayfly/v1 content key")}, ikm, 256);
    return bits; };
  const aes = (raw, use) => subtle.importKey("raw", raw, "AES-GCM", false, [use]);
  const aad = te.encode("mayfly/v1");
  const plain = random(size);
  let text = null, linkKey = null;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    linkKey = random(32);
    const nonce = random(12);
    const key = await aes(await contentKey(linkKey), "encrypt");
    const body = new Uint8Array(await subtle.encrypt({name: "AES-GCM", iv: nonce, additionalData: aad}, key, plain));
    const blob = new Uint8Array(13 + body.length); blob[0] = 1; blob.set(nonce, 1); blob.set(body, 13);
    text = b64(blob);
  }
  const t1 = performance.now();
  let back = null;
  for (let i = 0; i < reps; i++) {
    const blob = unb64(text);
    const key = await aes(await contentKey(linkKey), "decrypt");
    back = new Uint8Array(await subtle.decrypt({name: "AES-GCM", iv: blob.subarray(1, 13), additionalData: aad}, key, blob.subarray(13)));
  }
  const t2 = performance.now();
  if (back.length !== size) throw new Error("round trip failed");
  return {encrypt: (t1 - t0) / reps, decrypt: (t2 - t1) / reps};
}
"""


def has_crypto_module() -> bool:
    return (Path(static_dir()) / "js" / "crypto.js").exists()


def launch(playwright):
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (scripts/bench.sh installs it)")
    return playwright.chromium.launch(executable_path=chromium, args=ARGS)


def crypto_timings(browser, origin: str, sizes: list[int], batches: int = 3) -> dict:
    """Per size: the median over batches of the mean ms to encrypt and to decrypt."""
    page = browser.new_page()
    module = has_crypto_module()
    # A same-origin page without a CSP of its own, so that the module may be imported.
    page.goto(origin + ("/static/js/crypto.js" if module else "/"))
    results = {}
    for size in sizes:
        reps = 50 if size <= 64 * 1024 else 3
        runs = []
        for _ in range(batches):
            if module:
                runs.append(page.evaluate(WITH_MODULE, {"size": size, "reps": reps,
                                                        "url": "/static/js/crypto.js"}))
            else:
                runs.append(page.evaluate(INLINE, {"size": size, "reps": reps}))
        results[str(size)] = {
            "encrypt_ms": statistics.median(r["encrypt"] for r in runs),
            "decrypt_ms": statistics.median(r["decrypt"] for r in runs),
        }
    page.close()
    return {"source": "static/js/crypto.js" if module else "inline harness (no crypto.js yet)",
            "sizes": results}


def first_visit_bytes(browser, url: str) -> dict:
    """Bytes on the wire (compressed, headers included) for a first visit of `url`."""
    context = browser.new_context()  # empty cache: a first visit
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
