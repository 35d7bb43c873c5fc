"""Where create and reveal spend their time: py-spy on the live uWSGI workers under wrk load.

py-spy samples every worker of a stack (``--subprocesses`` from the master)
without stopping them (``--nonblocking``) while wrk drives one row, and writes
collapsed stacks. Idle samples (a worker waiting in accept()) are left out,
so the shares are of the time the workers were busy: Python code, and calls
into C such as SQLite's commit, whose fsync shows as ``Connection.execute``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from .stack import tool

RATE = 250  # samples per second and process
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _area(file: str) -> str:
    """The package a frame belongs to (py-spy names files from their import root)."""
    parts = Path(file).parts
    if parts and parts[0] == "mayfly":
        return ".".join(parts).removesuffix(".py")
    return parts[0].removesuffix(".py") if parts else "?"


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    return match["function"], match["file"]


def summarise(collapsed: str, top: int = 12) -> dict:
    """Self time per function and busy time per package, as shares of all samples."""
    leaves: Counter = Counter()
    areas: Counter = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        # A worker in uWSGI's own loop, between requests, is idle.
        if len(frames) <= 1:
            continue
        total += samples
        leaves[frames[-1].strip()] += samples
        seen = {_area(_split(f)[1]) for f in frames[1:]}
        for area in seen:
            areas[area] += samples
    if not total:
        return {"samples": 0, "self": [], "packages": []}
    return {
        "samples": total,
        "self": [{"where": k, "share": v / total} for k, v in leaves.most_common(top)],
        "packages": [{"where": k, "share": v / total} for k, v in areas.most_common(top)],
    }


def spy(master_pid: int, load, seconds: float, out: Path) -> dict:
    """Record every worker under `load()` (which runs wrk); summarise the samples."""
    argv = [tool("py-spy"), "record", "--pid", str(master_pid), "--subprocesses",
            "--nonblocking", "--rate", str(RATE), "--format", "raw", "--output", str(out),
            "--duration", str(int(seconds) + 30)]
    log = out.with_suffix(".log")
    with open(log, "w") as sink:
        recorder = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # py-spy attaches to each worker
            load()
            recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            recorder.wait(timeout=30)
        finally:
            if recorder.poll() is None:
                recorder.terminate()
                recorder.wait(timeout=10)
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {log.read_text()[-1000:]}")
    text = out.read_text()
    return summarise(text) | {"collapsed": merge(text)}


def merge(collapsed: str) -> str:
    """The same stacks without py-spy's per-process frames, equal stacks added up."""
    counts: Counter = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [f for f in stack.split(";") if not f.startswith("process ")]
            counts[";".join(frames)] += int(count)
    return "".join(f"{stack} {n}\n" for stack, n in counts.most_common())
