"""Real servers for integration tests: ``mayfly serve`` on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

# Tests create thousands of secrets from one address: the limits get their own tests.
NO_LIMITS = {"MAYFLY_RATE_LIMIT_CREATE": "", "MAYFLY_RATE_LIMIT_REVEAL": ""}


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, deadline: float = 30.0, process: subprocess.Popen | None = None):
    """Poll a URL until it answers 200; fail with the reason otherwise."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {deadline} s")


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
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        # What a user starts, with uWSGI's own screen kept in the log for failures.
        args = [str(Path(sys.executable).with_name("mayfly")), "serve", "--port", str(self.port),
                "--processes", str(self.processes), "--verbose"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")
        # A session of its own, so that kill() can take down master and workers at once.
        self.process = subprocess.Popen(args, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=self.workdir,
                                        start_new_session=True)
        try:
            wait_until_up(self.url + "/healthz", process=self.process)
        except Exception:
            self.stop()
            raise RuntimeError(self.log_path.read_text(errors="replace")[-3000:]) from None
        return self

    def kill(self) -> None:
        """SIGKILL the master, its workers and its HTTP router, as a crash would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully (uWSGI's die-on-term), or kill after 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            self.kill()  # also reaps workers a dead master may have left behind
        self.log.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
