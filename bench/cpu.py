"""CPU per request in the worker: the WSGI app called in a loop, in this process.

No nginx, no uWSGI, no socket: each request is a prepared WSGI environ (as
nginx and uWSGI would hand it over, HTTPS through one proxy) given to the
app, its body read to the end and closed. The figure is the process's CPU time
(``time.process_time``: user and system, so SQLite's own work counts, but not
the wait for an fsync) over the loop, divided by the requests. Hello is the
same loop over ``bench/hello.py``: issue 13 wants each row within 3× of it.

``python -m bench.cpu`` prints the table (a few seconds); the benchmark
(bench/run.py) puts the same figures into docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import fill

KiB = fill.KiB
# Each row's limit against hello's CPU per request (issue 13).
TARGET = 3.0
ROWS = ("hello", "create", "reveal", "page GET", "metadata GET")


def environ(method: str, path: str, body: bytes = b"", content_type: str = "") -> dict:
    """One request's WSGI environ, as uWSGI behind nginx passes it."""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8443", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8443",
        "HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "127.0.0.1:8443",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9", "HTTP_ACCEPT": "*/*",
        "HTTP_USER_AGENT": "bench", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if body or method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = content_type
    return env


def call(app: Callable, env: dict) -> str:
    """Serve one request to the end; return its status line."""
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    answer = app(env, start_response)
    try:
        for _chunk in answer:
            pass
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
    return status[0]


def loop(app: Callable, environs: list[dict], expect: str) -> float:
    """CPU microseconds per request over ``environs`` (each served once)."""
    started = time.process_time()
    for env in environs:
        status = call(app, env)
        if not status.startswith(expect):
            raise RuntimeError(f"{env['REQUEST_METHOD']} {env['PATH_INFO']}: {status}")
    return (time.process_time() - started) / len(environs) * 1e6


def measure(workdir: Path, requests: int = 2000, reps: int = 3) -> dict:
    """Each row's CPU µs per request: the median of ``reps`` loops of ``requests``."""
    from mayfly import create_app

    from .hello import app as hello

    data = workdir / "cpu-data"
    data.mkdir(parents=True, exist_ok=True)
    # The wait for an fsync is no CPU: NORMAL only keeps the loop short.
    app = create_app({"data_dir": str(data), "rate_limit_create": "", "rate_limit_reveal": "",
                      "proxy_count": 1, "sqlite_synchronous": "NORMAL"})
    live = fill.fill_sqlite(data / "mayfly.db", 1000, KiB, max_views=1_000_000)
    create = fill.create_body(KiB).encode()
    reveal = fill.REVEAL_BODY.encode()
    json_type = "application/json"

    def batch(row: str) -> tuple[Callable, list[dict], str]:
        if row == "hello":
            return hello, [environ("GET", "/") for _ in range(requests)], "200"
        if row == "create":
            return app, [environ("POST", "/api/v1/secrets", create, json_type)
                         for _ in range(requests)], "201"
        if row == "reveal":
            ids = fill.fill_sqlite(data / "mayfly.db", requests, KiB)
            return app, [environ("POST", f"/api/v1/secrets/{i}/reveal", reveal, json_type)
                         for i in ids], "200"
        path = "/s/" if row == "page GET" else "/api/v1/secrets/"
        return app, [environ("GET", path + live[n % len(live)]) for n in range(requests)], "200"

    for row in ROWS:  # a warm-up: imports, templates, connections, caches
        target, envs, expect = batch(row)
        loop(target, envs[:50], expect)
    runs: dict[str, list[float]] = {row: [] for row in ROWS}
    for _ in range(reps):  # round-robin, so that noise falls on every row alike
        for row in ROWS:
            target, envs, expect = batch(row)
            runs[row].append(loop(target, envs, expect))
    app.extensions["mayfly"].storage.close()
    hello_us = statistics.median(runs["hello"])
    return {"requests": requests, "reps": reps, "backend": "SQLite (synchronous=NORMAL)",
            "target": TARGET,
            "rows": {row: {"us": statistics.median(r), "runs": r,
                           "x_hello": statistics.median(r) / hello_us}
                     for row, r in runs.items()}}


def table(cpu: dict) -> list[str]:
    """The figures as a Markdown table."""
    out = ["| request | CPU µs per request | × hello | target |", "|---|---:|---:|---|"]
    for row, x in cpu["rows"].items():
        target = "–" if row == "hello" else f"≤ {cpu['target']:g}×"
        out.append(f"| {row} | {x['us']:.0f} | {x['x_hello']:.2f} | {target} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per loop")
    parser.add_argument("--reps", type=int, default=3, help="loops per row (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mayfly-cpu-") as workdir:
        cpu = measure(Path(workdir), args.requests, args.reps)
    print(json.dumps(cpu, indent=1) if args.json else "\n".join(table(cpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
