"""The browser side, in headless Chromium: a person's wait, Web Crypto timings, a first visit.

The person's wait (issue 13) is measured in the real pages against the real
server: the sender attaches a file and presses Create, the clock runs until the
frame that shows the link; the reader presses Read, the clock runs until the
frame that shows the message with its download ready. It is measured three
ways in the same run, round-robin: the pages' JavaScript as it was before the
browser's own base64 and the byte-built request bodies (``BASELINE``, read from
git), as it is now, and as it is now in a browser without native base64 (the
portable path). Encryption and decryption timings are what the pages' own
static/js/crypto.js does: derive the keys from a fresh link key, seal,
base64url-encode; and decode, derive, unseal.

Alone: ``nice python -m bench.browser [--reps 5] [--out results.json]`` starts
its own nginx -> uWSGI -> SQLite stack (bench/stack.py) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from .stack import ROOT, Stack

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

JS = Path(__file__).with_name("js")
# Runs `reps` encryptions then `reps` decryptions and returns the mean of each.
WITH_MODULE = (JS / "with_module.js").read_text()
MODULE = "/static/js/crypto.js"
# Click to link shown, click to message shown: the ms a person waits.
CREATE_WAIT = (JS / "create_wait.js").read_text()
READ_WAIT = (JS / "read_wait.js").read_text()
# The pages' JavaScript before issue 13's browser change (strings built per group of
# three bytes, the ciphertext sent as one JSON string): the same-run baseline.
BASELINE = "ffe3455cce72bd7c5437334be6ee0fee531a329b"
# The attachment: 10 MiB less 1 KiB, so that its sealed message fits the default
# 10 MiB ciphertext limit.
WAIT_SIZE = 10 * 1024 * 1024 - 1024
# An older browser, without Uint8Array.prototype.toBase64 and Uint8Array.fromBase64.
WITHOUT_NATIVE_BASE64 = "delete Uint8Array.prototype.toBase64; delete Uint8Array.fromBase64;"
VARIANTS = ("baseline", "native", "portable")


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


def baseline_scripts() -> dict[str, str] | None:
    """static/js/<name> -> its text at BASELINE, from git; None outside a clone that has it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                              text=True).stdout

    try:
        names = git("ls-tree", "--name-only", BASELINE, "src/mayfly/static/js/").split()
        return {Path(name).name: git("show", f"{BASELINE}:{name}") for name in names}
    except (OSError, subprocess.CalledProcessError):
        return None


def _open(context, url: str, variant: str, scripts: dict[str, str] | None):
    """A page at `url` whose scripts are `variant`'s; interception ends once they are loaded."""
    page = context.new_page()
    # Every variant goes through the same interception, so that it costs all alike;
    # it is removed before the clock starts (it would pause the API's requests too).
    def serve(route):
        name = route.request.url.rsplit("/", 1)[-1].split("?")[0]
        if variant == "baseline" and name in scripts:
            route.fulfill(status=200, content_type="text/javascript", body=scripts[name])
        else:
            route.continue_()

    page.route("**/static/*/js/*.js", serve)
    page.goto(url, wait_until="networkidle")
    page.unroute_all()
    return page


def _create(context, origin: str, variant: str, scripts: dict[str, str] | None,
            data: bytes) -> tuple[dict, str]:
    """One sender: attach `data`, press Create; ({ms waited, ms of it in the API}, the link)."""
    page = _open(context, origin + "/", variant, scripts)
    page.get_by_test_id("file-input").set_input_files(
        [{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": data}])
    page.get_by_test_id("file").wait_for()
    ms = page.evaluate(CREATE_WAIT)
    # The link names the site's public address; on loopback the port is ours.
    shown = urlsplit(page.get_by_test_id("share-link").input_value())
    page.close()
    return ms, f"{origin}{shown.path}#{shown.fragment}"


def _read(context, link: str, variant: str, scripts: dict[str, str] | None, size: int) -> dict:
    """One reader: open the link, press Read; {ms waited, ms of it in the API}."""
    page = _open(context, link, variant, scripts)
    ms = page.evaluate(READ_WAIT)
    offered = page.get_by_test_id("attachment").count()
    page.close()
    if offered != 1:
        raise RuntimeError(f"{variant}: {offered} attachments offered, not the one of {size} bytes")
    return ms


def person_wait(browser, origin: str, reps: int = 5, size: int = WAIT_SIZE) -> dict:
    """The sender's and the reader's wait per variant: medians over `reps`, round-robin."""
    scripts = baseline_scripts()
    # Without git (an unpacked release), only the pages as they are now.
    names = VARIANTS if scripts is not None else VARIANTS[1:]
    data = os.urandom(size)
    load = os.getloadavg()
    runs: dict[str, dict[str, list[dict]]] = {v: {"create": [], "read": []} for v in names}
    contexts = {}
    with ExitStack() as exits:
        for variant in names:
            context = browser.new_context(ignore_https_errors=True)
            exits.callback(context.close)
            if variant == "portable":
                context.add_init_script(WITHOUT_NATIVE_BASE64)
            contexts[variant] = context
        for _ in range(reps):
            for variant in names:
                context = contexts[variant]
                created, link = _create(context, origin, variant, scripts, data)
                runs[variant]["create"].append(created)
                runs[variant]["read"].append(_read(context, link, variant, scripts, size))
    variants = {variant: _figures(times) for variant, times in runs.items()}
    now = variants["native"]
    return {"size": size, "reps": reps, "baseline": BASELINE, "variants": variants,
            "load_before": load, "load_after": os.getloadavg(),
            # The shipped path in this Chromium: issue 13's row (target ratio <= 1.5).
            "create_ms": now["create_ms"], "read_ms": now["read_ms"], "ratio": now["ratio"],
            "create_speedup": (variants["baseline"]["create_ms"] / now["create_ms"]
                               if "baseline" in variants else None)}


def _figures(times: dict[str, list[dict]]) -> dict:
    """Medians of one variant's waits, the API's share of them, and what is left in the page."""
    out: dict = {}
    for side in ("create", "read"):
        waits, apis = [t["ms"] for t in times[side]], [t["api"] for t in times[side]]
        out[f"{side}_ms"] = statistics.median(waits)
        out[f"{side}_api_ms"] = statistics.median(apis)
        # Per run, so that a slow request does not count against the page.
        out[f"{side}_page_ms"] = statistics.median(w - a for w, a in zip(waits, apis, strict=True))
        out[f"{side}_runs"] = waits
    out["ratio"] = out["create_ms"] / out["read_ms"]
    out["page_ratio"] = out["create_page_ms"] / out["read_page_ms"]
    return out


def _secret(origin: str) -> str:
    """A small live secret of the stack's, for the first visit of its notification page."""
    import base64

    import requests

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    body = {"ciphertext": b64(b"\x01" + bytes(40)), "link_proof_hash": b64(bytes(32)),
            "access_proof_hash": b64(bytes(32)), "kdf": None, "expires_in": 3600,
            "max_views": 100}
    answer = requests.post(origin + "/api/v1/secrets", json=body, verify=False, timeout=30)
    answer.raise_for_status()
    return answer.json()["id"]


def measure(origin: str, sizes: list[int], reps: int) -> dict:
    """Everything this module measures, against the stack at `origin`."""
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as playwright:
        instance = launch(playwright)
        try:
            out["chromium"] = instance.version
            out["wait"] = person_wait(instance, origin, reps)
            out["crypto"] = crypto_timings(instance, origin, sizes)
            out["first_visit"] = first_visit_bytes(instance, f"{origin}/s/{_secret(origin)}")
        finally:
            instance.close()
    return out


def summary(wait: dict) -> str:
    """The wait figures as a few lines of text."""
    lines = [f"{wait['size']}-byte attachment, median of {wait['reps']}:"]
    for variant, v in wait["variants"].items():
        lines.append(f"  {variant:9} create {v['create_ms']:6.0f} ms"
                     f" (API {v['create_api_ms']:5.0f})  read {v['read_ms']:6.0f} ms"
                     f" (API {v['read_api_ms']:5.0f})"
                     f"  create/read {v['ratio']:.2f}, in the page {v['page_ratio']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__)
    parser.add_argument("--reps", type=int, default=5, help="senders and readers per variant")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    from .run import mayfly_env

    workdir = Path(tempfile.mkdtemp(prefix="mayfly-bench-browser-"))
    started = time.monotonic()
    try:
        data = workdir / "data"
        data.mkdir()
        with Stack("mayfly-sqlite", workdir, None, env=mayfly_env(data),
                   probe="/healthz") as stack:
            stack.ready()
            results = {"browser": measure(stack.url, [1024, 10 * 1024 * 1024], args.reps)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["browser"]["seconds"] = time.monotonic() - started
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(summary(results["browser"]["wait"]))
    print(text if not args.out else f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
