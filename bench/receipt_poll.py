"""What an open receipt page costs the server: its polls per minute, and the CPU of one poll.

Run: ``.venv/bin/python -m bench.receipt_poll`` (a few minutes; not part of ``make bench``).

1. In process (Flask's test client, SQLite, one thread): the CPU time
   (``time.process_time``) of a receipt GET answered in full, of the same GET
   answered 304 to a matching If-None-Match, and of the public metadata GET as
   a same-run baseline; medians of several rounds.
2. In real Chromium against ``mayfly serve``: a receipt page left open, its
   timers driven by Playwright's clock one second at a time, the receipt
   requests it makes counted per minute of page time (nothing changes meanwhile).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.processes import ProcessGroup, free_port, wait_until_up

from mayfly import create_app, crypto
from mayfly.client import Client

from .browser import launch

ROUNDS = 7
REQUESTS = 2000
MINUTES = 10


def cpu_per_request(client, path: str, headers: dict, expect: int) -> float:
    """Median CPU microseconds of one request, over ROUNDS rounds of REQUESTS."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(REQUESTS):
            response = client.get(path, headers=headers)
            assert response.status_code == expect, response.status_code
        rounds.append((time.process_time() - started) / REQUESTS * 1e6)
    return statistics.median(rounds)


def in_process(workdir: Path) -> dict:
    """CPU of a full receipt, a 304 receipt and a metadata GET, in this process."""
    app = create_app({"data_dir": str(workdir)})
    client = app.test_client()
    body = {"ciphertext": crypto.b64encode(b"\x01" + os.urandom(200)),
            "link_proof_hash": crypto.b64encode(os.urandom(32)),
            "access_proof_hash": crypto.b64encode(os.urandom(32)), "kdf": None}
    made = client.post("/api/v1/secrets", json=body).get_json()
    path = f"/api/v1/secrets/{made['id']}/receipt"
    auth = {"Authorization": f"Bearer {made['manage_token']}"}
    first = client.get(path, headers=auth)
    conditional = {**auth, "If-None-Match": first.headers["ETag"]}
    cpu_per_request(client, path, auth, 200)  # warm up
    return {
        "receipt_200_us": round(cpu_per_request(client, path, auth, 200), 1),
        "receipt_304_us": round(cpu_per_request(client, path, conditional, 304), 1),
        "metadata_200_us": round(cpu_per_request(client, f"/api/v1/secrets/{made['id']}",
                                                 {}, 200), 1),
        "receipt_200_bytes": len(first.get_data()),
        "requests_per_round": REQUESTS, "rounds": ROUNDS,
    }


def polls_per_minute(workdir: Path) -> list[int]:
    """Receipt requests of one open page in each minute of page time, nothing changing."""
    from playwright.sync_api import sync_playwright

    workdir.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mayfly = str(Path(sys.executable).with_name("mayfly"))
    env = {**os.environ, "MAYFLY_DATA_DIR": str(workdir / "data")}
    server = ProcessGroup([mayfly, "serve", "--port", str(port), "--processes", "2"],
                          workdir / "uwsgi.log", env=env, cwd=workdir)
    try:
        wait_until_up(url + "/healthz", process=server)
        sent = Client(url).send(crypto.Message("watched"))
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page()
            second = [0]  # of page time, as the clock steps
            asked: list[int] = []
            answered: list[int] = []
            page.on("request", lambda r: r.url.endswith("/receipt") and asked.append(second[0]))
            page.on("response", lambda r: r.url.endswith("/receipt") and answered.append(
                r.status))
            page.clock.install()
            page.goto(sent.receipt_link)
            page.wait_for_selector("[data-watch=on]")
            for second[0] in range(1, MINUTES * 60 + 1):
                page.clock.run_for(1000)
                deadline = time.monotonic() + 10
                while len(answered) < len(asked) and time.monotonic() < deadline:
                    page.wait_for_timeout(10)
            browser.close()
        minutes = [0] * MINUTES
        for moment in asked[1:]:  # the first is the page's own first look
            minutes[min((moment - 1) // 60, MINUTES - 1)] += 1
        return minutes
    finally:
        server.stop(grace=15)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = {"in_process": in_process(Path(tmp) / "a")}
        print(json.dumps(report, indent=2), flush=True)
        report["polls_per_minute"] = polls_per_minute(Path(tmp) / "b")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
