"""Drive wrk with bench/lua/bench.lua and read back the one line it prints."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from .stack import tool

SCRIPT = Path(__file__).with_name("lua") / "bench.lua"
CONNECTIONS = 64


def cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's share, not the host's)."""
    return len(os.sched_getaffinity(0))


# One wrk thread per core: the load generator may use all of the machine, as the servers do.
THREADS = cores()


@dataclass(frozen=True)
class Run:
    """One wrk run: throughput, latency percentiles and what the answers were."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    ok: int
    other: int
    exhausted: int
    errors: int

    def as_dict(self) -> dict:
        return asdict(self)


def wrk(url: str, args: list[str], duration: float, connections: int = CONNECTIONS,
        threads: int = THREADS) -> Run:
    """Load `url` for `duration` seconds; `args` go to the Lua script (its mode first)."""
    argv = [tool("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
            "--timeout", "10s", "-s", str(SCRIPT), url, "--", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                            stdin=subprocess.DEVNULL)
    line = next((line for line in result.stdout.splitlines() if line.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("BENCH "))
    seconds = raw["duration_us"] / 1e6
    return Run(rps=raw["ok"] / seconds, p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
               requests=raw["requests"], ok=raw["ok"], other=raw["other"],
               exhausted=raw["exhausted"], errors=raw["socket_errors"] + raw["timeouts"])
