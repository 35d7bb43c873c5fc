"""The production stack in a directory: pebble, nginx, uWSGI and certbot on loopback.

Everything here starts real programs on free high ports of 127.0.0.1 (through
harness/'s ProcessGroup) and stops them again; nothing is skipped when a program
is missing (that is a failure).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
from harness.processes import ProcessGroup, wait_for

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "deployment" / "install.sh"
DOMAIN = "mayfly.test"
EMAIL = "admin@mayfly.test"
WEB_GROUP = "www-data"
# Each command gets this long before the test gives up on it.
COMMAND_TIMEOUT = 120


def tool(name: str) -> str:
    """The path of a program the stack needs; a missing one fails the test."""
    found = shutil.which(name, path=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
                         ":/usr/sbin:/sbin")
    assert found, f"{name} is not installed (scripts/test.sh installs it)"
    return found


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports that were free a moment ago on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command to completion; on failure the assertion shows its output."""
    result = subprocess.run(list(argv), env=None if env is None else dict(env), text=True,
                            capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, (
            f"{shlex.join(argv)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
    return result


@contextmanager
def resolving(host: str, address: str) -> Iterator[None]:
    """Make this process resolve ``host`` to ``address``, as DNS would for a real domain."""
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        return real(address if name == host else name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


def unit_settings(path: Path, section: str = "Service") -> dict[str, list[str]]:
    """A systemd unit's settings in one section, every value of repeatable keys kept."""
    settings: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an EnvironmentFile (no quoting needed by ours)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def make_self_signed(directory: Path, name: str, sans: str) -> tuple[Path, Path]:
    """A self-signed certificate and key (pebble's listener, which Debian doesn't ship)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={sans}", "-keyout", str(key), "-out", str(cert)])
    return cert, key


def nss_home_trusting(ca_file: Path, directory: Path) -> Path:
    """A HOME whose NSS store (what Chromium trusts on Linux) holds pebble's root."""
    home = directory / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    certutil = tool("certutil")
    run([certutil, "-N", "-d", f"sql:{nssdb}", "--empty-password"])
    run([certutil, "-A", "-d", f"sql:{nssdb}", "-n", "pebble-root", "-t", "C,,",
         "-i", str(ca_file)])
    return home


class Pebble:
    """Let's Encrypt's test CA on loopback: ACME directory and management API."""

    def __init__(self, workdir: Path, validity_seconds: int):
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert, key = make_self_signed(workdir, "pebble-listener", "IP:127.0.0.1,DNS:localhost")
        acme, management, http, tls = free_ports(4)
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{acme}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(self.cert), "privateKey": str(key),
            "httpPort": http, "tlsPort": tls, "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": validity_seconds,
        }}
        config_path = workdir / "pebble.json"
        config_path.write_text(json.dumps(config, indent=2))
        self.directory = f"https://127.0.0.1:{acme}/dir"
        self.management = f"https://127.0.0.1:{management}"
        env = {**os.environ, "PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_VA_NOSLEEP": "1",
               "PEBBLE_WFE_NONCEREJECT": "0"}
        self.service = ProcessGroup([tool("pebble"), "-config", str(config_path)],
                                    workdir / "pebble.log", env=env, cwd=workdir, name="pebble")
        wait_for("pebble's ACME directory",
                 lambda: requests.get(self.directory, verify=str(self.cert), timeout=2).ok,
                 self.service)

    def root_pem(self) -> str:
        """The root every certificate pebble issued chains to (it changes per start)."""
        answer = requests.get(f"{self.management}/roots/0", verify=str(self.cert), timeout=10)
        answer.raise_for_status()
        return answer.text


def nginx_main_conf(root: Path) -> str:
    """What /etc/nginx/nginx.conf is on Debian, reduced, with absolute paths only.

    certbot runs `nginx -c <this file>` without -p, so nothing may be relative.
    """
    user = f"user {WEB_GROUP} {WEB_GROUP};\n" if os.geteuid() == 0 else ""
    temp = root / "var/lib/nginx"
    return (
        f"{user}"
        "worker_processes 2;\n"
        "daemon off;\n"
        f"pid {root}/run/nginx.pid;\n"
        f"error_log {root}/var/log/nginx/error.log notice;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    access_log {root}/var/log/nginx/access.log;\n"
        f"    include {root}/etc/nginx/sites-enabled/*.conf;\n"
        "}\n"
    )
