"""Turn one run's results into performance.md, its PNG plots and results.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .load import CONNECTIONS

HERE = Path(__file__).resolve().parent
ANALYSIS = HERE / "analysis.md"
KiB, MiB = 1024, 1024 * 1024
HELLO = "Flask hello"
COLOURS = {"ceiling": "#888888", "SQLite": "#1f77b4", "Redis": "#d62728",
           "SQLite synchronous=NORMAL": "#9467bd",
           "snappass": "#ff7f0e"}


def _size(n: float) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n:.0f} B"


def paired(a: dict, b: dict, field: str) -> float:
    """Median over repetitions of a/b, each pair from the same repetition.

    Rows of one repetition run minutes apart at most, so a pair shares most of
    the machine's noise; the ratio of two medians would not.
    """
    runs = {"rps": "rps_runs", "p99_ms": "p99_runs"}.get(field)
    if runs and runs in a and runs in b and len(a[runs]) == len(b[runs]):
        return statistics.median(x / y for x, y in zip(a[runs], b[runs], strict=True) if y)
    return a[field] / b[field]


def _verdict(ok: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[ok]


class Targets:
    """The issue's targets, each with the figure this run measured."""

    def __init__(self, results: dict):
        self.r = results
        self.table = results.get("table", {})
        self.lines: list[tuple[str, str, str]] = []

    def row(self, key: str) -> dict | None:
        return self.table.get(key)

    def add(self, target: str, figure: str, ok: bool | None) -> None:
        self.lines.append((target, figure, _verdict(ok)))

    def ratio(self, target: str, key: str, base: str, field: str, limit: float,
              at_least: bool) -> None:
        a, b = self.row(key), self.row(base)
        if not a or not b or not b[field]:
            self.add(target, f"{key} or {base} not measured in this run", None)
            return
        ratio = paired(a, b, field)
        ok = ratio >= limit if at_least else ratio <= limit
        unit = "req/s" if field == "rps" else "ms"
        self.add(target, f"{ratio:.2f}× ({a[field]:.4g} vs {b[field]:.4g} {unit})", ok)

    def build(self) -> list[tuple[str, str, str]]:
        """Issue 13's targets, one line per figure, in the issue's order."""
        for backend, limit in (("SQLite", 1.0), ("Redis", 1.3)):
            for op in ("create", "reveal"):
                self.ratio(f"{backend} {op} vs Snappass {op}: ≥ {limit:g}× req/s",
                           f"{backend} {op}", f"Snappass {op}", "rps", limit, True)
        for op, limit in (("page GET", 0.6), ("metadata GET", 0.8)):
            for backend in ("SQLite", "Redis"):
                self.ratio(f"{backend} {op} vs hello: ≥ {limit:g}× req/s", f"{backend} {op}",
                           HELLO, "rps", limit, True)
        for backend in ("SQLite", "Redis"):
            for op in ("create", "reveal"):
                self.ratio(f"{backend} {op} p99 vs hello's p99 ({CONNECTIONS} connections):"
                           " ≤ 2.5×", f"{backend} {op}", HELLO, "p99_ms", 2.5, False)
        self.browser()
        self.cpu()
        return self.lines

    def browser(self) -> None:
        """Encrypting the largest size measured against decrypting it, in Chromium."""
        target = "browser: encrypt vs decrypt of the largest size: ≤ 1.5×"
        sizes = self.r.get("browser", {}).get("crypto", {}).get("sizes", {})
        if not sizes:
            self.add(target, "not measured in this run (--no-browser)", None)
            return
        size = max(sizes, key=int)
        encrypt, decrypt = sizes[size]["encrypt_ms"], sizes[size]["decrypt_ms"]
        ratio = encrypt / decrypt
        self.add(target.replace("the largest size", _size(int(size))),
                 f"{ratio:.2f}× ({encrypt:.3g} vs {decrypt:.3g} ms)", ratio <= 1.5)

    def cpu(self) -> None:
        """CPU per request in the worker (bench/cpu.py), each row against hello's."""
        cpu = self.r.get("cpu")
        if not cpu:
            self.add("CPU per request in the worker vs hello's: ≤ 3×",
                     "not measured in this run", None)
            return
        hello = cpu["rows"]["hello"]["us"]
        for row, x in cpu["rows"].items():
            if row != "hello":
                self.add(f"CPU per request in the worker, {row} vs hello: ≤ {cpu['target']:g}×",
                         f"{x['x_hello']:.2f}× ({x['us']:.0f} vs {hello:.0f} µs)",
                         x["x_hello"] <= cpu["target"])


class StandingTargets(Targets):
    """Issue 6's targets that issue 13 did not replace: scale, memory, first visit."""

    def build(self) -> list[tuple[str, str, str]]:
        fills = list(self.r.get("scale_fill", {}))
        if len(fills) == 2:
            small, large = fills
            for op in ("create", "reveal"):
                self.ratio(f"{op} with {large} ≥ 0.9 × with {small} req/s",
                           f"{large} {op}", f"{small} {op}", "rps", 0.9, True)
        for backend, m in self.r.get("memory", {}).items():
            for op in ("create", "reveal"):
                extra, ratio = m[f"{op}_extra"], m[f"{op}_ratio"]
                self.add(f"{backend}: {op} of a {_size(m['size'])} secret ≤ 3 × its size in"
                         " extra worker RSS", f"{_size(extra)} = {ratio:.2f}× its size",
                         ratio <= 3)
        visit = self.r.get("browser", {}).get("first_visit")
        if visit:
            total = visit["total"]
            self.add("notification page first visit ≤ 60 KB on the wire",
                     f"{total / 1000:.1f} KB ({len(visit['resources'])} responses)",
                     total <= 60_000)
        else:
            self.add("notification page first visit ≤ 60 KB on the wire",
                     "not measured in this run (--no-browser)", None)
        return self.lines


def _header(results: dict) -> list[str]:
    quick = (" **This is a --quick smoke run: its figures mean nothing.**"
             if results.get("quick") else "")
    return [
        "# Performance\n",
        "Generated by `scripts/bench.sh` (`python -m bench`) on "
        f"{results['started']}; the whole run took {results['wall_seconds'] / 60:.1f} minutes."
        f" Do not edit by hand: run the benchmark again.{quick}\n",
        "Every request goes through the production shape on loopback: wrk → nginx →"
        f" uWSGI (unix socket, {results.get('workers', '5 workers')}, `lazy-apps`) → the app. "
        f"Configuration: {results['config']}.\n",
        "![Throughput](perf-throughput.png)\n",
    ]


def _throughput(results: dict) -> list[str]:
    table, plan = results.get("table", {}), results["plan"]
    hello = table.get(HELLO)
    out = [
        "## Throughput and latency\n",
        f"wrk, {plan['reps']} repetitions of {plan['duration']:g} s per row,"
        f" {results['machine']['cores']} threads (one per core), {CONNECTIONS} connections;"
        " medians over the repetitions, and each ratio is the median of the"
        " ratios within one repetition. req/s counts **2xx answers only**;"
        " the last column shows that every request did real work (each reveal takes a"
        " different pre-created one-view secret).\n",
        "| row | req/s | × hello | p50 ms | p99 ms | p99 × hello | 2xx / requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, s in table.items():
        times = f"{paired(s, hello, 'rps'):.2f}" if hello else "–"
        p99x = f"{paired(s, hello, 'p99_ms'):.2f}" if hello else "–"
        out.append(f"| {key} | {s['rps']:.0f} | {times} | {s['p50_ms']:.2f} | {s['p99_ms']:.1f} |"
                   f" {p99x} | {s['ok']} / {s['requests']} |")
    out.append("")
    for key, s in table.items():
        if s["exhausted"]:
            out.append(f"- *{key}* ran out of pre-created secrets in some repetition: those runs"
                       " stopped early and their rate covers only the time they had work.")
    out.append("")
    return out


def _targets(results: dict) -> list[str]:
    out = ["## The targets (issue 13)\n",
           "Each row of issue 13's table, with this run's figure; ratios of throughput and"
           " p99 are paired within each repetition (see above).\n",
           "| target | this run | verdict |", "|---|---|---|"]
    for target, figure, verdict in Targets(results).build():
        out.append(f"| {target} | {figure} | {verdict} |")
    out += ["", "Standing targets of issue 6:\n", "| target | this run | verdict |",
            "|---|---|---|"]
    for target, figure, verdict in StandingTargets(results).build():
        out.append(f"| {target} | {figure} | {verdict} |")
    out.append("")
    return out


def _cpu(results: dict) -> list[str]:
    cpu = results.get("cpu")
    if not cpu:
        return []
    from .cpu import table

    return ["## CPU per request in the worker\n",
            "`bench/cpu.py` (`python -m bench.cpu` runs it alone in seconds): the WSGI app"
            " called in a loop in one process, no server and no socket, each request a"
            " prepared environ as uWSGI passes it behind nginx; the process's CPU time (user"
            f" and system) over {cpu['requests']} requests; the median of {cpu['reps']}"
            " such loop(s) per row, run round-robin. Backend: "
            f"{cpu['backend']}, since the wait for an fsync is not CPU. Hello is"
            " `bench/hello.py` in the same loop.\n",
            *table(cpu), ""]


def _analysis(results: dict) -> list[str]:
    return [ANALYSIS.read_text().strip() + "\n", "![Latency](perf-latency.png)\n"]


def _scale(results: dict) -> list[str]:
    fills = results.get("scale_fill", {})
    if not fills:
        return []
    out = ["## Scale\n",
           "Stores filled before the run with direct SQLite inserts in one transaction"
           " (1 KiB ciphertexts, live for a day), then loaded like the rows above.\n",
           "| store | fill time | database size |", "|---|---:|---:|"]
    for label, f in fills.items():
        out.append(f"| {label} | {f['fill_seconds']:.1f} s | {_size(f['db_bytes'])} |")
    out.append("\n![Scale](perf-scale.png)\n")
    return out


def _purge(results: dict) -> list[str]:
    p = results.get("purge")
    if not p:
        return []
    return [f"**Purge:** `Rules.purge()` removed {p['purged']} expired secrets (of"
            f" {p['expired']}, beside {p['live']} live ones) in **{p['seconds']:.2f} s**"
            f" ({p['seconds'] / max(p['purged'], 1) * 1e6:.1f} µs each);"
            f" {p['ciphertexts_left']} ciphertexts were left (the live ones).\n"]


def _memory(results: dict) -> list[str]:
    mem = results.get("memory", {})
    if not mem:
        return []
    out = ["## Memory of a worker with a large secret\n",
           "Peak RSS (VmHWM, reset through /proc/PID/clear_refs before each request) minus RSS"
           " before, worst of the 5 workers.\n",
           "| backend | secret | create: extra RSS | × size | reveal: extra RSS | × size |",
           "|---|---:|---:|---:|---:|---:|"]
    for backend, x in mem.items():
        out.append(f"| {backend} | {_size(x['size'])} | {_size(x['create_extra'])} |"
                   f" {x['create_ratio']:.2f} | {_size(x['reveal_extra'])} |"
                   f" {x['reveal_ratio']:.2f} |")
    out.append("")
    return out


def _waits(wait: dict | None) -> list[str]:
    """The person's wait for a large attachment, per variant of the pages' JavaScript."""
    if not wait:
        return []
    names = {"baseline": f"before ({wait['baseline'][:7]})", "native": "now",
             "portable": "now, without native base64"}
    out = [f"A person's wait with a {_size(wait['size'])} attachment in the real pages (median"
           f" of {wait['reps']}, round-robin): create = click on Create to the link shown, read ="
           " click on Read to the message shown with its download ready; API = the requests'"
           " share of it (upload or download and the server's work).\n",
           "| pages' JavaScript | create ms | of it API | read ms | of it API | create / read |"
           " in the page |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, v in wait["variants"].items():
        out.append(f"| {names.get(key, key)} | {v['create_ms']:.0f} | {v['create_api_ms']:.0f} |"
                   f" {v['read_ms']:.0f} | {v['read_api_ms']:.0f} | {v['ratio']:.2f} |"
                   f" {v['page_ratio']:.2f} |")
    out.append("")
    return out


def _browser(results: dict) -> list[str]:
    b = results.get("browser")
    if not b:
        return []
    crypto = b["crypto"]
    out = ["## Browser side\n",
           f"Headless Chromium {b.get('chromium', '')}, Web Crypto, through"
           f" {crypto['source']}. Encrypt = derive the keys from a fresh link key, seal"
           " (AES-256-GCM), base64url-encode; decrypt = decode, derive, unseal. Median of 3"
           " batches (50 operations per batch for small sizes, 3 for large).\n",
           "| plaintext | encrypt ms | decrypt ms |", "|---:|---:|---:|"]
    for size, t in crypto["sizes"].items():
        out.append(f"| {_size(int(size))} | {t['encrypt_ms']:.2f} | {t['decrypt_ms']:.2f} |")
    out.append("")
    out += _waits(b.get("wait"))
    visit = b.get("first_visit")
    if visit:
        out += [f"First visit of the notification page, empty cache: **{visit['total']} bytes**"
                " on the wire (headers included, compressed as served):\n",
                "| bytes | encoding | resource |", "|---:|---|---|"]
        for res in visit["resources"]:
            out.append(f"| {res['bytes']} | {res['encoding'] or 'identity'} | {res['url']} |")
        out.append("")
    return out


def _profile(results: dict) -> list[str]:
    prof = results.get("profile")
    if not prof:
        return []
    out = ["## Profile of the hot path\n",
           "py-spy sampling all 5 uWSGI workers (non-blocking, idle samples left out) while"
           f" wrk drives the row for {results['plan']['profile']:g} s. *Self* is where the busy"
           " samples were (the innermost function; C calls such as SQLite's"
           " `Connection.execute`, whose COMMIT waits for fsync, count as busy); *package* is"
           " the share of samples with that package anywhere on the stack. Collapsed stacks,"
           " for a flame graph: `docs/perf-profile-*.txt`.\n"]
    for name, x in prof.items():
        out += [f"**{name}** ({x['samples']} samples)\n",
                "| self | function (package) | inclusive | package |", "|---:|---|---:|---|"]
        selfs, packages = x["self"], x["packages"]
        for i in range(max(len(selfs), len(packages))):
            left = (f"{selfs[i]['share'] * 100:.1f} % | `{selfs[i]['where']}`"
                    if i < len(selfs) else " | ")
            right = (f"{packages[i]['share'] * 100:.1f} % | {packages[i]['where']}"
                     if i < len(packages) else " | ")
            out.append(f"| {left} | {right} |")
        out.append("")
    return out


def _method(results: dict) -> list[str]:
    cores = results["machine"]["cores"]
    return [
        "## Method\n",
        "- One command (`scripts/bench.sh`, or `python -m bench`; `--quick` for a smoke run)"
        " starts every server on loopback in a scratch directory: one nginx per stack (the"
        " same main configuration: Debian's defaults, gzip on), one uWSGI per stack from the"
        " same ini, a redis-server of its own for each Redis user, and stops them all at the"
        " end.",
        "- Configuration: the package's `uwsgi.ini`, the one `mayfly serve` runs (with"
        " `module` swapped for each app), and `deployment/nginx/mayfly.conf` rendered as the"
        " installer does: HTTPS on loopback with a throw-away self-signed certificate, and"
        " the API's flood limit (`limit_req`) raised to 1,000,000 r/s since the app's own"
        " limits are off too. The nginx `return 200` ceiling answers over the same TLS. wrk"
        " speaks HTTP/1.1 with keep-alive over TLS, Chromium HTTP/2.",
        "- Ceilings: nginx `return 200` alone, and `bench/hello.py` (a Flask app answering a"
        " constant) under the same uWSGI and nginx configuration.",
        "- mayfly runs with rate limits off (`MAYFLY_RATE_LIMIT_*=\"\"`), `MAYFLY_PROXY_COUNT=1`"
        " and otherwise its defaults (SQLite `synchronous=FULL`). Create posts a 1 KiB"
        " ciphertext; metadata GET and page GET cycle over 1,000 live secrets; reveal posts"
        " both proofs of a different pre-created one-view secret each time.",
        "- Snappass 1.6 (pip), same uWSGI ini with `module = snappass.main:app`: create is its"
        " JSON answer to `POST /` (form `password` of 1 KiB, `ttl=week`, `Accept:"
        " application/json`), reveal is `POST /<token>` on tokens made with its own"
        " `set_password`.",
        "- Each Redis user (mayfly on Redis, Snappass) gets a redis-server of its own,"
        " configured as docs/scaling.md recommends: `appendonly yes`, `appendfsync everysec`,"
        " `save \"\"`, `maxmemory-policy noeviction`.",
        "- Stores for the scale rows and one-view secrets for the reveal rows are written"
        " before each run straight into SQLite (one transaction) or, on Redis, through the"
        " app's own `Rules` in process; Snappass's through its own `set_password`.",
        "- All rows run round-robin: a warm-up of each, then repetition 1 of every row,"
        " repetition 2 of every row, and so on, so that noise from other work on the machine"
        " falls on all rows alike; read the ratios rather than the absolute figures.",
        f"- wrk, nginx, uWSGI, the apps and Chromium share the same {cores} core(s): the load"
        " generator takes CPU from the servers, which flattens every ratio towards 1.",
        "",
    ]


def _machine(results: dict) -> list[str]:
    m = results["machine"]
    out = ["## Machine\n"]
    for key in ("cpu", "cores", "memory_gib", "kernel", "python", "sqlite", "nginx", "uwsgi",
                "wrk", "redis", "load_before", "load_after"):
        if key in m:
            value = m[key]
            if isinstance(value, list | tuple):
                value = " ".join(f"{v:.2f}" for v in value)
            out.append(f"- {key}: {value}")
    out.append("")
    return out


SECTIONS = (_header, _throughput, _targets, _cpu, _analysis, _scale, _purge, _memory, _browser,
            _profile, _method, _machine)


def markdown(results: dict) -> str:
    """performance.md: one function per section, in order."""
    return "\n".join(line for section in SECTIONS for line in section(results))


def plots(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = results.get("table", {})
    hello = table.get(HELLO)
    keys = list(table)
    colours = [COLOURS.get(table[k]["group"], "#2ca02c") for k in keys]

    fig, ax = plt.subplots(figsize=(9, 0.38 * len(keys) + 1.2))
    rps = [table[k]["rps"] for k in keys]
    ax.barh(keys, rps, color=colours)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("requests/s, 2xx only (log scale; median of repetitions)")
    ax.set_title(f"Throughput through nginx → uWSGI ({results.get('workers', '5 workers')}),"
                 f" {CONNECTIONS} connections")
    for i, value in enumerate(rps):
        ratio = paired(table[keys[i]], hello, "rps") if hello else None
        label = f" {value:.0f}" + (f"  ({ratio:.2f}× hello)" if ratio else "")
        ax.text(value, i, label, va="center", fontsize=8)
    ax.set_xlim(right=max(rps) * 8)
    fig.tight_layout()
    fig.savefig(out / "perf-throughput.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 0.38 * len(keys) + 1.2))
    y = range(len(keys))
    ax.barh([i - 0.2 for i in y], [table[k]["p50_ms"] for k in keys], height=0.4,
            label="p50", color="#9ecae1")
    ax.barh([i + 0.2 for i in y], [table[k]["p99_ms"] for k in keys], height=0.4,
            label="p99", color="#08519c")
    ax.set_yticks(list(y), keys)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms (log scale)")
    ax.set_title("Latency at 64 connections")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "perf-latency.png", dpi=110)
    plt.close(fig)

    fills = list(results.get("scale_fill", {}))
    if len(fills) == 2:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ops = ["create", "reveal"]
        for j, label in enumerate(fills):
            values = [table.get(f"{label} {op}", {}).get("rps", 0) for op in ops]
            ax.bar([i + (j - 0.5) * 0.4 for i in range(len(ops))], values, width=0.4,
                   label=label)
        ax.set_xticks(range(len(ops)), ops)
        ax.set_ylabel("requests/s")
        ax.set_title("SQLite: a small store against a large one")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "perf-scale.png", dpi=110)
        plt.close(fig)


def write(results: dict, out: Path) -> None:
    """Write performance.md, the plots and the raw results into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf-results.json").write_text(json.dumps(
        {k: v for k, v in results.items() if k != "profile"} | {
            "profile": {n: {k: v for k, v in p.items() if k != "collapsed"}
                        for n, p in results.get("profile", {}).items()}},
        indent=1, default=str))
    for name, p in results.get("profile", {}).items():
        slug = name.lower().replace("synchronous=", "").replace(" ", "-")
        (out / f"perf-profile-{slug}.txt").write_text(p["collapsed"])
    plots(results, out)
    (out / "performance.md").write_text(markdown(results))
