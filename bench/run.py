"""The whole comparison in one run: ``python -m bench`` (or ``--quick`` for a smoke run).

Every stack is started first and the rows are then run round-robin, one
repetition of every row after another, so that a noisy neighbour slows all
rows of a repetition alike; medians over repetitions go into the report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import quote_plus

import requests
from harness.redis_servers import RedisServer

from mayfly import app_rules, create_app

from . import cpu, fill, memory
from .load import Run, cores, wrk
from .stack import ROOT, SITE_SOURCE, Ceiling, Stack, tool, workers

KiB, MiB = fill.KiB, fill.MiB
NO_LIMITS = {"MAYFLY_RATE_LIMIT_CREATE": "", "MAYFLY_RATE_LIMIT_REVEAL": ""}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Plan:
    """How long and how big: the full run, or the quick smoke run."""

    duration: float
    reps: int
    warmup: float
    scale: tuple[int, int]
    purge: int
    big: int
    browser_sizes: tuple[int, ...]
    profile: float  # seconds of py-spy per profiled row
    cpu_requests: int  # requests per loop of bench/cpu.py


FULL = Plan(duration=6, reps=5, warmup=2, scale=(1_000, 1_000_000), purge=100_000,
            big=10 * MiB, browser_sizes=(KiB, 10 * MiB), profile=8, cpu_requests=2000)
QUICK = Plan(duration=1, reps=1, warmup=0, scale=(1_000, 5_000), purge=2_000,
             big=MiB, browser_sizes=(KiB,), profile=1, cpu_requests=200)


@dataclass
class Row:
    """One line of the table: a URL loaded by wrk, its Lua arguments made fresh per run."""

    key: str
    group: str
    url: str
    args: Callable[[Row], list[str]]
    probe: str  # answered only once the requests wrk left behind have been served
    runs: list[Run] = field(default_factory=list)
    # requests/s, to size one-shot inputs before the first run: about hello's rate, since
    # a Redis reveal now runs near 4,000 and ran out of 1,500 × 3 in a quick run.
    estimate: float = 6000.0

    def run(self, duration: float) -> Run:
        result = wrk(self.url, self.args(self), duration)
        self.estimate = max(self.estimate if self.runs else 0.0, result.rps, 50.0)
        if result.exhausted:
            print(f"  ! {self.key}: inputs ran out ({result.exhausted} extra requests)",
                  flush=True)
        self.settle()
        return result

    def settle(self) -> None:
        """Wait until the server has served what wrk abandoned at its end.

        wrk closes its 64 connections mid-request; nginx gives up on them, but
        their connections stay in uWSGI's listen queue (100 deep) until a worker
        accepts them. A next run starting at once would overflow that queue and
        count nginx's 502s against the next row.
        """
        time.sleep(0.3)
        requests.get(self.probe, timeout=60, verify=False)


def mayfly_env(data_dir: Path, storage_url: str = "") -> dict[str, str]:
    return {**NO_LIMITS, "MAYFLY_DATA_DIR": str(data_dir), "MAYFLY_STORAGE_URL": storage_url,
            "MAYFLY_PROXY_COUNT": "1"}


def in_process_app(data_dir: Path, storage_url: str):
    """The app in this process, on a stack's storage, to create secrets without HTTP."""
    return create_app({"data_dir": str(data_dir), "storage_url": storage_url,
                       "rate_limit_create": "", "rate_limit_reveal": ""})


class Bench:
    """Builds the stacks and rows of one run and collects every figure."""

    def __init__(self, plan: Plan, workdir: Path):
        self.plan = plan
        self.dir = workdir
        self.rows: list[Row] = []
        self.results: dict = {"plan": plan.__dict__, "notes": []}
        self.counter = 0
        self.stacks: list[Stack] = []
        self.stack_of: dict[str, Stack] = {}

    def stack(self, exits: ExitStack, *args, **kwargs) -> Stack:
        """Start a stack (ready() is awaited for all of them at once, in run())."""
        stack = exits.enter_context(Stack(*args, **kwargs))
        self.stacks.append(stack)
        return stack

    def note(self, text: str) -> None:
        print(f"-- {text}", flush=True)
        self.results["notes"].append(text)

    def file(self, name: str, lines: list[str]) -> str:
        self.counter += 1
        return str(fill.write_lines(self.dir / f"{self.counter:04d}-{name}", lines))

    def body(self, name: str, text: str) -> str:
        """A request body file, byte for byte (no newline added)."""
        self.counter += 1
        path = self.dir / f"{self.counter:04d}-{name}"
        path.write_text(text)
        return str(path)

    def needed(self, row: Row) -> int:
        """One-shot inputs for a run of `row`: three times what its best rate would use."""
        seconds = max(self.plan.duration, self.plan.warmup)
        return max(500, math.ceil(row.estimate * seconds * 3))

    # --- rows -----------------------------------------------------------------

    def add(self, key: str, group: str, url: str, args: Callable[[Row], list[str]],
            probe: str = "/", stack: Stack | None = None) -> None:
        base = url.split("/", 3)
        self.rows.append(Row(key, group, url, args, "/".join(base[:3]) + probe))
        if stack is not None:
            self.stack_of[key] = stack

    def ceiling_rows(self, ceiling: Ceiling, hello: Stack) -> None:
        self.add("nginx return 200", "ceiling", ceiling.url + "/", lambda r: ["get"])
        self.add("Flask hello", "ceiling", hello.url + "/", lambda r: ["get"])

    def mayfly_rows(self, label: str, stack: Stack, make: Callable[[int], list[str]],
                    live_ids: list[str], page: bool = True) -> None:
        """create, metadata GET, reveal and page GET against one mayfly stack."""
        body = self.body(f"{label}-create.json", fill.create_body(KiB))
        meta = self.file(f"{label}-meta.txt", [f"/api/v1/secrets/{i}" for i in live_ids])
        pages = self.file(f"{label}-pages.txt", [f"/s/{i}" for i in live_ids])
        self.add(f"{label} create", label, stack.url + "/api/v1/secrets",
                 lambda r: ["post", body, JSON], stack.probe, stack)
        if live_ids:
            self.add(f"{label} metadata GET", label, stack.url + "/", lambda r: ["paths", meta],
                     stack.probe, stack)

        def reveal(row: Row) -> list[str]:
            ids = make(self.needed(row))
            return ["once", self.file(f"{label}-reveal.txt", fill.reveal_lines(ids)), JSON, "2"]

        self.add(f"{label} reveal", label, stack.url + "/", reveal, stack.probe, stack)
        if page and live_ids:
            self.add(f"{label} page GET", label, stack.url + "/", lambda r: ["paths", pages],
                     stack.probe, stack)

    def sqlite_stack(self, exits: ExitStack, name: str, stored: int, live: int,
                     **settings: str) -> tuple:
        data = self.dir / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        db = data / "mayfly.db"
        started = time.monotonic()
        if stored:
            fill.fill_sqlite(db, stored, KiB)
        live_ids = fill.fill_sqlite(db, live, KiB, max_views=100) if live else []
        fill_s = time.monotonic() - started
        stack = self.stack(exits, name, self.dir, None,
                           env=mayfly_env(data) | settings, probe="/healthz")
        return stack, (lambda n: fill.fill_sqlite(db, n, KiB)), live_ids, fill_s

    def snappass_rows(self, exits: ExitStack) -> None:
        redis = exits.enter_context(_Started(aof_redis(self.dir / "redis-snappass")))
        env = {"REDIS_URL": redis.url, "NO_SSL": "True"}
        stack = self.stack(exits, "snappass", self.dir, "snappass.main:app", env=env)
        os.environ.update(env)  # snappass reads its settings at import time
        import snappass.main as snappass

        password = "p" * KiB
        create = self.body("snappass-create.form", f"password={password}&ttl=week")

        def reveal(row: Row) -> list[str]:
            tokens = [snappass.set_password(password, 604800) for _ in range(self.needed(row))]
            return ["once", self.file("snappass-reveal.txt",
                                      [f"/{quote_plus(t)}\t" for t in tokens]), FORM, "2"]

        self.add("Snappass create", "snappass", stack.url + "/",
                 lambda r: ["post", create, FORM, JSON])
        self.add("Snappass reveal", "snappass", stack.url + "/", reveal)

    # --- the run --------------------------------------------------------------

    def load(self) -> None:
        """Run every row: a warm-up each, then the repetitions round-robin."""
        plan = self.plan
        if plan.warmup:
            for row in self.rows:
                print(f"warm-up {row.key}", flush=True)
                row.run(plan.warmup)
        for rep in range(plan.reps):
            for row in self.rows:
                result = row.run(plan.duration)
                row.runs.append(result)
                print(f"[{rep + 1}/{plan.reps}] {row.key:32s} {result.rps:9.1f} req/s"
                      f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:8.2f} ms"
                      f"  ok {result.ok} other {result.other}", flush=True)

    def summary(self) -> dict:
        table = {}
        for row in self.rows:
            runs = row.runs
            table[row.key] = {
                "rps_runs": [r.rps for r in runs],
                "p99_runs": [r.p99_ms for r in runs],
                "group": row.group,
                "rps": statistics.median(r.rps for r in runs),
                "p50_ms": statistics.median(r.p50_ms for r in runs),
                "p99_ms": statistics.median(r.p99_ms for r in runs),
                "requests": sum(r.requests for r in runs),
                "ok": sum(r.ok for r in runs),
                "other": sum(r.other for r in runs),
                "exhausted": sum(r.exhausted for r in runs),
                "errors": sum(r.errors for r in runs),
                "runs": [r.as_dict() for r in runs],
            }
        return table

    def run(self, browser: bool = True, profile: bool = True) -> dict:
        plan = self.plan
        results = self.results
        results["machine"] = machine()
        results["config"] = SITE_SOURCE
        results["workers"] = workers()
        results["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        wall = time.monotonic()
        with ExitStack() as exits:
            ceiling = exits.enter_context(Ceiling(self.dir))
            hello = self.stack(exits, "hello", self.dir, "bench.hello:app")
            self.ceiling_rows(ceiling, hello)

            sqlite, make, live, _ = self.sqlite_stack(exits, "mayfly-sqlite", 0, 1_000)
            self.mayfly_rows("SQLite", sqlite, make, live)
            # The same with the WAL synced at checkpoints only: what durability costs.
            normal, make_normal, _, _ = self.sqlite_stack(
                exits, "mayfly-sqlite-normal", 0, 0, MAYFLY_SQLITE_SYNCHRONOUS="NORMAL")
            self.mayfly_rows("SQLite synchronous=NORMAL", normal, make_normal, [], page=False)

            redis = exits.enter_context(_Started(aof_redis(self.dir / "redis-mayfly")))
            data = self.dir / "mayfly-redis" / "data"
            data.mkdir(parents=True, exist_ok=True)
            app = in_process_app(data, redis.url)
            rstack = self.stack(exits, "mayfly-redis", self.dir, None,
                                env=mayfly_env(data, redis.url), probe="/healthz")
            self.mayfly_rows("Redis", rstack, lambda n: fill.fill_rules(app, n),
                             fill.fill_rules(app, 1_000, max_views=100))

            self.snappass_rows(exits)

            small, large = plan.scale
            fills = {}
            for stored in (small, large):
                label = f"{_count(stored)} stored"
                stack, make, _, fill_s = self.sqlite_stack(exits, f"scale-{stored}", stored, 0)
                fills[label] = {"stored": stored, "fill_seconds": fill_s,
                                "db_bytes": _db_bytes(self.dir / f"scale-{stored}" / "data")}
                self.mayfly_rows(label, stack, make, [], page=False)
            results["scale_fill"] = fills

            for stack in self.stacks:
                stack.ready()
            self.load()
            results["table"] = self.summary()

            results["memory"] = {"SQLite": memory.big_secret(sqlite, plan.big),
                                 "Redis": memory.big_secret(rstack, plan.big)}

            if browser:
                results["browser"] = self.browser(sqlite, live[0])
            if profile and plan.profile:
                results["profile"] = self.profile()
        results["purge"] = purge(self.dir / "purge", plan.purge)
        # In this process, once every server is stopped: nothing else competes for the CPU.
        results["cpu"] = cpu.measure(self.dir / "cpu", plan.cpu_requests,
                                     reps=3 if plan.reps > 1 else 1)
        results["wall_seconds"] = time.monotonic() - wall
        results["machine"]["load_after"] = os.getloadavg()
        return results

    def profile(self) -> dict:
        """py-spy on the workers while wrk drives writes and Redis reads (bench/profile.py)."""
        from .profile import spy

        found = {}
        rows = {row.key: row for row in self.rows}
        keys = ["SQLite create", "SQLite reveal", "SQLite synchronous=NORMAL create",
                "SQLite synchronous=NORMAL reveal", "Redis create", "Redis reveal",
                "Redis page GET", "Redis metadata GET"]
        if self.plan.reps == 1:  # the quick run only shows that profiling works, on a write
            keys = ["SQLite reveal", "Redis page GET"]  # and a read
        for key in keys:
            if key not in rows:
                continue
            row, stack = rows[key], self.stack_of[key]
            print(f"profiling {key}", flush=True)
            try:
                found[key] = spy(stack.uwsgi.pid, lambda row=row: row.run(self.plan.profile),
                                 self.plan.profile, self.dir / f"spy-{len(found)}.txt")
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                self.note(f"profile of {key} failed: {exc}")
        return found

    def browser(self, sqlite: Stack, secret_id: str) -> dict:
        from playwright.sync_api import sync_playwright

        from . import browser as chrome

        out: dict = {}
        with sync_playwright() as playwright:
            instance = chrome.launch(playwright)
            try:
                out["wait"] = chrome.person_wait(instance, sqlite.url,
                                                 reps=5 if self.plan.reps > 1 else 1)
                out["crypto"] = chrome.crypto_timings(instance, sqlite.url,
                                                      list(self.plan.browser_sizes))
                out["first_visit"] = chrome.first_visit_bytes(instance,
                                                              f"{sqlite.url}/s/{secret_id}")
                out["chromium"] = instance.version
            finally:
                instance.close()
        return out


def aof_redis(workdir: Path) -> RedisServer:
    """A Redis of our own as docs/scaling.md recommends: AOF, fsynced every second, no RDB."""
    return RedisServer(workdir, appendonly=True)


class _Started:
    """Context manager around a Redis server: start on enter, stop on exit."""

    def __init__(self, server: RedisServer):
        self.server = server

    def __enter__(self) -> RedisServer:
        try:
            return self.server.start()
        except BaseException:
            self.server.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.server.stop()


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"


def _db_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in data.glob("mayfly.db*"))


def purge(workdir: Path, count: int) -> dict:
    """Time Rules.purge() over `count` expired secrets (SQLite, default settings)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fill.fill_sqlite(workdir / "mayfly.db", count, KiB, lifetime=-60)
    live = 1_000
    fill.fill_sqlite(workdir / "mayfly.db", live, KiB)
    app = in_process_app(workdir, "")
    rules = app_rules(app)
    started = time.perf_counter()
    purged = rules.purge()
    seconds = time.perf_counter() - started
    rules.storage.close()
    db = sqlite3.connect(str(workdir / "mayfly.db"))
    (left,) = db.execute("SELECT count(*) FROM ciphertexts").fetchone()
    db.close()
    return {"expired": count, "live": live, "seconds": seconds, "purged": purged.expired,
            "ciphertexts_left": left}


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu, "cores": cores(), "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "flask": metadata.version("flask"),
        "sqlite": sqlite3.sqlite_version,
        "nginx": _version([tool("nginx"), "-v"]),
        "uwsgi": _version([tool("uwsgi"), "--version"]),
        "wrk": _version([tool("wrk"), "-v"]),
        "redis": _version([tool("redis-server"), "--version"]),
        "load_before": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per row, small stores, no profile: a smoke run")
    parser.add_argument("--out", type=Path, default=None,
                        help="where performance.md, its plots and results.json go"
                             " (default: docs/ for a full run, a temporary folder for --quick)")
    parser.add_argument("--no-browser", action="store_true", help="skip Chromium")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="only write the report again from a run's perf-results.json")
    args = parser.parse_args(argv)
    if args.render:
        from .report import markdown

        results = json.loads(args.render.read_text())
        (args.render.parent / "performance.md").write_text(markdown(results))
        return 0
    plan = QUICK if args.quick else FULL
    out = args.out or (Path(tempfile.mkdtemp(prefix="mayfly-bench-out-")) if args.quick
                       else ROOT / "docs")
    workdir = Path(tempfile.mkdtemp(prefix="mayfly-bench-"))
    print(f"scratch: {workdir}\nresults: {out}", flush=True)
    try:
        results = Bench(plan, workdir).run(browser=not args.no_browser)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["quick"] = args.quick
    from .report import write

    out.mkdir(parents=True, exist_ok=True)
    write(results, out)
    print(f"wrote {out / 'performance.md'} in {results['wall_seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
