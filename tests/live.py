"""Real servers for integration tests: ``mayfly serve`` on a free loopback port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.processes import ProcessGroup, free_port, wait_until_up

__all__ = ["NO_LIMITS", "LiveServer", "ProcessGroup", "free_port", "wait_until_up"]

# Tests create thousands of secrets from one address: the limits get their own tests.
NO_LIMITS = {"MAYFLY_RATE_LIMIT_CREATE": "", "MAYFLY_RATE_LIMIT_REVEAL": ""}


class LiveServer:
    """``mayfly serve`` (uWSGI master + workers) with its own data directory and log."""

    def __init__(self, workdir: Path, processes: int = 5, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.processes = processes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "uwsgi.log"
        self.env = {**os.environ, "MAYFLY_DATA_DIR": str(workdir / "data"), **NO_LIMITS,
                    **(env or {})}
        self.process: ProcessGroup | None = None

    def start(self) -> LiveServer:
        # What a user starts, with uWSGI's own screen kept in the log for failures.
        args = [str(Path(sys.executable).with_name("mayfly")), "serve", "--port", str(self.port),
                "--processes", str(self.processes), "--verbose"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ProcessGroup(args, self.log_path, env=self.env, cwd=self.workdir)
        try:
            wait_until_up(self.url + "/healthz", process=self.process)
        except Exception:
            self.stop()
            raise RuntimeError(self.log_path.read_text(errors="replace")[-3000:]) from None
        return self

    def kill(self) -> None:
        """SIGKILL the master, its workers and its HTTP router, as a crash would."""
        self.process.kill()

    def stop(self) -> None:
        """Stop gracefully (uWSGI's die-on-term), or kill after 15 s."""
        if self.process is not None:
            self.process.stop(grace=15)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
