"""Free ports, a program in a process group of its own, and waiting until it is up."""

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
                 env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                 name: str | None = None, **popen):
        """Start ``argv``; ``popen`` passes the rest (umask, group...) to subprocess.Popen."""
        self.name = name or Path(str(argv[0])).name
        self.log_path = log
        with open(log, "ab") as out:  # the program keeps its own copy of the descriptor
            self.popen = subprocess.Popen([str(a) for a in argv], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True,
                                          env=None if env is None else dict(env), cwd=cwd,
                                          **popen)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of the program's log."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 15, sig: signal.Signals = signal.SIGTERM) -> None:
        """``sig`` to the leader, then SIGKILL the whole group after ``grace`` seconds."""
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # also reaps children a dead leader may have left behind


def _ended(process: ProcessGroup | subprocess.Popen | None, what: str) -> None:
    """Fail at once if the program we wait for has exited, with the end of its log."""
    if process is None:
        return
    popen = process.popen if isinstance(process, ProcessGroup) else process
    if popen.poll() is not None:
        name, log = ((process.name, f":\n{process.tail()}") if isinstance(process, ProcessGroup)
                     else ("the server", ""))
        raise RuntimeError(f"{name} exited with {popen.returncode} before {what}{log}")


def wait_for(what: str, check, process: ProcessGroup | subprocess.Popen | None = None,
             deadline: float = 30.0):
    """Poll ``check()`` until it returns a true value; fail with the program's log otherwise.

    An OSError or a requests error from ``check`` counts as "not yet".
    """
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        _ended(process, what)
        try:
            value = check()
            if value:
                return value
        except (OSError, requests.RequestException) as exc:
            last = exc
        time.sleep(0.1)
    log = f"\n{process.tail()}" if isinstance(process, ProcessGroup) else ""
    raise RuntimeError(f"{what} not within {deadline} s (last error: {last!r}){log}")


def wait_until_up(url: str, deadline: float = 30.0,
                  process: ProcessGroup | subprocess.Popen | None = None, ok=(200,),
                  **get) -> None:
    """Poll a URL until it answers one of ``ok``; fail with the reason otherwise."""
    wait_for(f"{url} answering", lambda: requests.get(url, timeout=2, **get).status_code in ok,
             process, deadline)
