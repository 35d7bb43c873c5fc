"""A fresh Debian with systemd as PID 1, booted in a container, for install tests.

The root file system comes from mmdebstrap (minbase, systemd, nothing of mayfly)
and is cached under /var/cache/mayfly-tests/, built again when it is missing.
Each test boots a private copy of it with systemd-nspawn (``--register=no`` and
``--keep-unit``: the host has no systemd of its own) sharing the host's network,
so the guest's nginx binds the host's ports 80 and 443. Commands run inside
through the guest's own systemd (``systemd-run``), never in a bare nsenter shell,
which would keep the host's capabilities.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from harness.processes import ProcessGroup

CACHE = Path(os.environ.get("MAYFLY_GUEST_CACHE", "/var/cache/mayfly-tests"))
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# What a fresh server has: systemd, D-Bus, a CA store, curl. Nothing of mayfly's.
PACKAGES = "systemd,systemd-sysv,dbus,libpam-systemd,ca-certificates,curl,iproute2,procps"
HOSTNAME = "mayfly-guest"
# Certificates of an intercepting proxy the host trusts: the guest must too.
HOST_CAS = Path("/usr/local/share/ca-certificates")
# The host's pip settings (index, certificate store), if any.
HOST_PIP = [Path("/etc/pip.conf"), Path("/etc/xdg/pip")]
BOOT_TIMEOUT = 60


def sources(suite: str) -> list[str]:
    """The three apt lines of a Debian release."""
    return [f"deb {MIRROR} {suite} main", f"deb {MIRROR} {suite}-updates main",
            f"deb {SECURITY} {suite}-security main"]


def recipe(suite: str) -> str:
    """Everything the cached root file system is made from: a new recipe, a new build."""
    host_files = sorted(HOST_CAS.glob("*.crt")) + [p for p in HOST_PIP if p.is_file()]
    digest = hashlib.sha256()
    for path in host_files:
        digest.update(path.read_bytes())
    return f"{suite} {PACKAGES} {' '.join(sources(suite))} {digest.hexdigest()}"


def customize_hooks() -> list[str]:
    """mmdebstrap hooks: a host name (minbase has none) and the host's trust and pip setup."""
    hooks = [f'echo {HOSTNAME} > "$1/etc/hostname"',
             f'printf "127.0.0.1 localhost {HOSTNAME}\\n::1 localhost\\n" > "$1/etc/hosts"']
    if any(HOST_CAS.glob("*.crt")):
        hooks.append(f'cp {HOST_CAS}/*.crt "$1{HOST_CAS}/" && chroot "$1" update-ca-certificates')
    for path in HOST_PIP:
        if path.exists():
            hooks.append(f'mkdir -p "$1{path.parent}" && cp -r {path} "$1{path}"')
    return hooks


def rootfs(suite: str) -> Path:
    """The cached root file system of ``suite``, built first if missing or stale."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"rootfs-{suite}"
    stamp = CACHE / f"rootfs-{suite}.recipe"
    with open(CACHE / f"rootfs-{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, even across test runs
        if target.is_dir() and stamp.is_file() and stamp.read_text() == recipe(suite):
            return target
        building = CACHE / f"rootfs-{suite}.building"
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        argv = ["mmdebstrap", "--variant=minbase", f"--include={PACKAGES}"]
        argv += [f"--customize-hook={hook}" for hook in customize_hooks()]
        argv += [suite, str(building), *sources(suite)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise GuestError(f"mmdebstrap {suite} failed ({result.returncode}):\n"
                             f"{result.stderr[-3000:]}")
        building.rename(target)
        stamp.write_text(recipe(suite))
        return target


class GuestError(AssertionError):
    """The guest could not be built, booted or driven."""


class Guest:
    """One booted container on a private, writable copy of a cached root file system."""

    def __init__(self, suite: str, workdir: Path, name: str):
        self.suite = suite
        self.name = name
        self.root = workdir / name
        self.log_path = workdir / f"{name}.console.log"
        self.process: ProcessGroup | None = None
        self.leader = 0
        # A copy, not --volatile: a reboot and an upgrade need what the last boot wrote.
        subprocess.run(["cp", "-a", "--reflink=auto", str(rootfs(suite)), str(self.root)],
                       check=True)

    def caches(self) -> dict[Path, str]:
        """Download caches of apt and pip, kept between runs: packages, not installs."""
        caches = {CACHE / f"apt-{self.suite}": "/var/cache/apt/archives",
                  CACHE / f"pip-{self.suite}": "/root/.cache/pip"}
        for host in caches:
            (host / "partial").mkdir(parents=True, exist_ok=True)
        return caches

    def path(self, inside: str) -> Path:
        """Where a path of the guest lies on the host."""
        return self.root / inside.lstrip("/")

    def boot(self) -> float:
        """Start the container, wait until systemd says "running"; return the seconds taken."""
        started = time.monotonic()
        argv = ["systemd-nspawn", "-D", str(self.root), "-M", self.name, "-b",
                "--register=no", "--keep-unit", "--console=pipe",
                # Without these two, IPAddressDeny= and DevicePolicy= go unenforced.
                "--system-call-filter=bpf",
                # A real server's systemd may set up the loopback device of a unit's
                # private network (PrivateNetwork=); nspawn withholds this otherwise.
                "--capability=CAP_NET_ADMIN",
                *(f"--bind={host}:{inside}" for host, inside in self.caches().items())]
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        self.process = ProcessGroup(argv, self.log_path, env=env, name="systemd-nspawn")
        self.leader = self._wait_for_leader()
        state = self._wait_until_running()
        if state != "running":
            failed = self.run("systemctl --failed --no-legend", check=False).stdout
            raise GuestError(f"{self.name} booted {state!r}; failed units:\n{failed}")
        return time.monotonic() - started

    def _wait_for_leader(self) -> int:
        """The guest's PID 1, seen from the host: nspawn's child, once it runs systemd."""
        end = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < end:
            if not self.process.alive():
                raise GuestError(f"systemd-nspawn exited {self.process.popen.returncode}:\n"
                                 f"{self.console()}")
            try:
                children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
                for pid in children.read_text().split():
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
            except OSError:
                pass  # a child that came and went while we looked
            time.sleep(0.05)
        raise GuestError(f"{self.name}: no PID 1 within {BOOT_TIMEOUT} s")

    def _wait_until_running(self) -> str:
        end = time.monotonic() + BOOT_TIMEOUT
        state = ""
        while time.monotonic() < end:
            # Until the guest's D-Bus is up, systemctl cannot even ask.
            result = self.nsenter(["systemctl", "is-system-running", "--wait"], check=False,
                                  timeout=BOOT_TIMEOUT)
            state = (result.stdout + result.stderr).strip()
            if state in {"running", "degraded"}:
                return state
            time.sleep(0.2)
        raise GuestError(f"{self.name} not running within {BOOT_TIMEOUT} s ({state!r}):\n"
                         f"{self.console()}")

    def console(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def nsenter(self, argv: list[str], *, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a program in all of the guest's namespaces (for systemctl and systemd-run)."""
        full = ["nsenter", "-t", str(self.leader), "-a", *argv]
        result = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise GuestError(f"{shlex.join(argv)} exited {result.returncode} in {self.name}\n"
                             f"--- stdout\n{result.stdout[-4000:]}\n"
                             f"--- stderr\n{result.stderr[-4000:]}")
        return result

    def run(self, script: str, *, env: Mapping[str, str] | None = None, check: bool = True,
            timeout: float = 300, properties: Mapping[str, str] | list[str] = ()
            ) -> subprocess.CompletedProcess:
        """Run a shell script as a transient unit of the guest's systemd, as root."""
        argv = ["/usr/bin/systemd-run", "--quiet", "--wait", "--pipe", "--collect",
                "--setenv=DEBIAN_FRONTEND=noninteractive"]
        for key, value in (env or {}).items():
            argv.append(f"--setenv={key}={value}")
        for prop in properties:
            argv.append(f"--property={prop}")
        argv += ["/bin/bash", "-c", script]
        return self.nsenter(argv, check=check, timeout=timeout)

    def poweroff(self, timeout: float = 60) -> float:
        """Shut the guest down cleanly; return the seconds it took."""
        started = time.monotonic()
        if self.process is None or not self.process.alive():
            return 0.0
        try:
            self.nsenter(["systemctl", "poweroff"], check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise GuestError(f"{self.name} did not power off within {timeout} s") from None
        return time.monotonic() - started

    def kill(self) -> None:
        """Stop a wedged guest: SIGTERM to nspawn (which halts the container), then SIGKILL."""
        if self.process is not None:
            self.process.stop(grace=15)

    def remove(self) -> None:
        """Power off (or kill) the guest and delete its root file system."""
        try:
            self.poweroff()
        except GuestError:
            pass  # kill() has stopped it
        shutil.rmtree(self.root, ignore_errors=True)
