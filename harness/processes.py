"""Free ports, a program in a process group of its own, and waiting until a URL answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessGroup:
    """A long-running program in a session of its own, its output in a log file.

    The session makes the program the leader of a process group, so that
    ``stop`` and ``kill`` reach everything it forked (uWSGI's workers and HTTP
    router, nginx's workers) even when the leader is already gone.
    """

    def __init__(self, argv: Sequence[str | os.PathLike], log: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None):
        self.log_path = log
        self.log = open(log, "ab")
        self.popen = subprocess.Popen([str(a) for a in argv], stdout=self.log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True,
                                      env=None if env is None else dict(env), cwd=cwd)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of the program's log."""
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM the leader, then SIGKILL the whole group after ``grace`` seconds."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # also reaps children a dead leader may have left behind
        self.log.close()


def wait_until_up(url: str, deadline: float = 30.0,
                  process: ProcessGroup | subprocess.Popen | None = None, ok=(200,),
                  **get) -> None:
    """Poll a URL until it answers one of ``ok``; fail with the reason otherwise."""
    popen = process.popen if isinstance(process, ProcessGroup) else process
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if popen is not None and popen.poll() is not None:
            raise RuntimeError(f"the server exited with {popen.returncode}")
        try:
            if requests.get(url, timeout=2, **get).status_code in ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {deadline} s")
