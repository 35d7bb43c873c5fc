"""Podman for the container tests: a local base image, the image build, runs and compose.

No registry is reachable on the test machines, so the Debian base image is
made here with mmdebstrap and tagged with the name the Containerfile asks for;
podman keeps it (and every built layer) between runs. Two settings this kernel
needs (runc, explicit ulimits) come from a containers.conf of the test's own,
passed through CONTAINERS_CONF, so that podman-compose's podman calls get them
too and the machine's configuration is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deployment" / "container" / "Containerfile"
COMPOSE_DIR = ROOT / "deployment" / "container"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
REDIS_IMAGE = "docker.io/library/redis:7-bookworm"
MIRROR = "http://deb.debian.org/debian"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
"""
# Like Docker Hub's slim images: no documentation, manual pages or translations.
SLIM = [
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
]
# Stands in for Docker Hub's redis image: Debian's redis-server, working in /data.
REDIS_CONTAINERFILE = f"""\
FROM {BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/* && install -d -o redis -g redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
"""


def tool(name: str) -> str:
    """The path of a program the tests need; a missing one fails the test (CI must have it)."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert found, f"{name} is not installed (scripts/test.sh installs it)"
    return found


class Podman:
    """podman with the test's own containers.conf."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.binary = tool("podman")

    def __call__(self, *args: str, check: bool = True, timeout: float = 900,
                 input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run one podman command; on failure, raise with its output."""
        result = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout.decode(errors='replace')[-2000:]}\n"
                               f"{result.stderr.decode(errors='replace')[-4000:]}")
        return result

    def text(self, *args: str) -> str:
        return self(*args).stdout.decode().strip()

    def exists(self, image: str) -> bool:
        return self("image", "exists", image, check=False).returncode == 0

    def ensure_base_image(self) -> None:
        """Make debian:bookworm-slim locally (mmdebstrap), once per machine."""
        if self.exists(BASE_IMAGE):
            return
        # The build inside must trust what the host trusts (an intercepting proxy's CA).
        hooks = ['cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"'
                 ' 2>/dev/null || true',
                 'chroot "$1" update-ca-certificates',
                 'chroot "$1" apt-get clean']
        argv = [tool("mmdebstrap"), "--variant=minbase", "--include=ca-certificates", *SLIM,
                *(f"--customize-hook={hook}" for hook in hooks), "bookworm", "-",
                f"deb {MIRROR} bookworm main", f"deb {MIRROR} bookworm-updates main",
                f"deb {MIRROR}-security bookworm-security main"]
        tarball = subprocess.run(argv, capture_output=True, timeout=900)
        if tarball.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{tarball.stderr.decode()[-3000:]}")
        self("import", "-", BASE_IMAGE, input=tarball.stdout)

    def build(self, tag: str, containerfile: Path, context: Path, *args: str) -> None:
        """Build an image; docker format, or podman drops the HEALTHCHECK."""
        self("build", "--pull=never", "--format", "docker", "-f", str(containerfile),
             "-t", tag, *args, str(context), timeout=1800)

    def ensure_redis_image(self, workdir: Path) -> None:
        if self.exists(REDIS_IMAGE):
            return
        containerfile = workdir / "Containerfile.redis"
        containerfile.write_text(REDIS_CONTAINERFILE)
        self.build(REDIS_IMAGE, containerfile, workdir)

    def inspect(self, what: str) -> dict:
        return json.loads(self.text("inspect", what))[0]


def wait_healthy(url: str, deadline: float = 60.0) -> float:
    """Poll /healthz until it answers 200; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy within {deadline} s")


def compose(podman: Podman, files: Sequence[Path], project: str, *args: str,
            env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run podman-compose with the given files; raise with its output on failure."""
    argv = [tool("podman-compose"), "--podman-path", podman.binary, "-p", project]
    for file in files:
        argv += ["-f", str(file)]
    result = subprocess.run([*argv, *args], env={**podman.env, **(env or {})},
                            capture_output=True, timeout=timeout, cwd=COMPOSE_DIR)
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise RuntimeError(f"podman-compose {' '.join(args)} exited {result.returncode}:\n"
                           f"{output[-4000:]}")
    return output
