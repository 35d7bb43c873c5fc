"""The production shape on loopback: nginx -> uWSGI (unix socket, 5 workers) -> a WSGI app.

Each stack is its own nginx master and its own uWSGI master in one scratch
directory, so the same site configuration can be rendered once per app (the
deployment's file declares http-level names that may appear only once per
nginx). Processes start and stop through harness/ (a process group each, the
scratch nginx), as the tests' do; callers use the stacks as context managers.

The configuration is what users run: the package's ``uwsgi.ini`` (with the
benchmarked app's module swapped in) and ``deployment/nginx/mayfly.conf``
rendered as the installer does, over HTTPS with a throw-away certificate.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

import urllib3
from harness.nginx import Nginx
from harness.processes import ProcessGroup, free_port, wait_until_up

# The deployment's site is HTTPS; on loopback it gets a throw-away self-signed certificate.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

ROOT = Path(__file__).resolve().parents[1]
PACKAGED_INI = Path(str(files("mayfly").joinpath("uwsgi.ini")))
SITE_TEMPLATE = ROOT / "deployment" / "nginx" / "mayfly.conf"
DOMAIN = "mayfly.test"
SCHEME = "https"
PROCESSES = 5
# The largest request body nginx lets through: a 10 MiB ciphertext in base64url plus JSON.
BODY_LIMIT = "15m"

# Debian's nginx.conf http defaults, which the deployment runs under: before every site.
DEBIAN_HTTP = """\
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    gzip on;
"""

CEILING_SITE = """\
server {
    listen {listen};
    access_log {logs}/access.log;
    location / {
        default_type text/plain;
        return 200 "ok\\n";
    }
}
"""


def tool(name: str) -> str:
    """The path of a program; the venv's bin first (uwsgi), then PATH and sbin."""
    path = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    found = shutil.which(name, path=path)
    if not found:
        raise SystemExit(f"{name} is not installed (scripts/bench.sh installs it)")
    return found


def static_dir() -> str:
    return str(files("mayfly").joinpath("static"))


def workers() -> str:
    """How many workers the stacks run, and their threads (the packaged ini's)."""
    found = re.search(r"^threads\s*=\s*(\d+)", PACKAGED_INI.read_text(), re.M)
    threads = int(found[1]) if found else 1
    return f"{PROCESSES} workers" + (f" × {threads} threads" if threads > 1 else "")


def uwsgi_ini(module: str | None = None) -> str:
    """The package's uwsgi.ini (the one `mayfly serve` runs), to be written anywhere.

    Its %d (the ini's folder) is made the package's own; with `module`, that
    app is swapped in for mayfly's wsgi.py.
    """
    text = PACKAGED_INI.read_text().replace("%d", f"{PACKAGED_INI.parent}/")
    if module is None:
        return text
    entry = f"\nwsgi-file = {PACKAGED_INI.parent}/wsgi.py\n"
    if entry not in text:
        raise RuntimeError(f"{PACKAGED_INI}: no 'wsgi-file = %dwsgi.py' line to swap")
    return text.replace(entry, f"\nmodule = {module}\n")



def tls_files(root: Path) -> dict[str, str]:
    """A self-signed certificate for DOMAIN and the ffdhe2048 group, made once per run."""
    tls = root / "tls"
    files_ = {"cert": tls / "cert.pem", "key": tls / "key.pem", "dhparam": tls / "dh.pem"}
    if not files_["dhparam"].exists():
        tls.mkdir(parents=True, exist_ok=True)
        openssl = tool("openssl")
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN},IP:127.0.0.1",
                        "-keyout", str(files_["key"]), "-out", str(files_["cert"])],
                       check=True, capture_output=True)
        subprocess.run([openssl, "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                        "group:ffdhe2048", "-out", str(files_["dhparam"])],
                       check=True, capture_output=True)
    return {k: str(v) for k, v in files_.items()}


def nginx_site(socket_path: Path, root: Path) -> str:
    """deployment/nginx/mayfly.conf rendered as the installer would, {listen} and {logs} left.

    HTTPS with a self-signed certificate, the flood limit raised out of the way
    as the app's own limits are.
    """
    tls = tls_files(root)
    values = {
        "LISTEN_HTTP": f"listen 127.0.0.1:{free_port()};",
        "LISTEN_HTTPS": "listen {listen} ssl http2;",
        "DOMAIN": DOMAIN, "HTTPS_PORT_SUFFIX": "",
        "NGINX_LOG_DIR": "{logs}", "ACME_ROOT": "{logs}",
        "TLS_CERT": tls["cert"], "TLS_KEY": tls["key"], "TLS_CHAIN": tls["cert"],
        "TLS_DHPARAM": tls["dhparam"],
        "API_RATE": "1000000r/s", "API_BURST": "1000000",
        "BODY_LIMIT": BODY_LIMIT, "STATIC_DIR": static_dir(), "SOCKET": str(socket_path),
    }
    text = SITE_TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"{SITE_TEMPLATE}: placeholders the benchmark does not fill: {left}")
    return text


def ceiling_site(root: Path) -> str:
    """nginx `return 200`, over the same TLS as the stacks."""
    tls = tls_files(root)
    return CEILING_SITE.replace("listen {listen};", (
        "listen {listen} ssl http2;\n"
        f"    ssl_certificate {tls['cert']};\n    ssl_certificate_key {tls['key']};\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;"))


# Which files configured the stacks, for the report.
SITE_SOURCE = ("uWSGI: the package's mayfly/uwsgi.ini; nginx: deployment/nginx/mayfly.conf"
               " (HTTPS, self-signed certificate on loopback)")


def wait_for(url: str, process: ProcessGroup, deadline: float = 60) -> None:
    """Poll until `url` answers below 500; fail with the server's log otherwise."""
    try:
        wait_until_up(url, deadline, process, ok=range(500), verify=False)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}:\n{process.tail()}") from None


class Stack:
    """nginx -> uWSGI (unix socket, 5 workers) -> `module` (None: mayfly), with `env` for the app.

    Entering starts both servers without waiting (stacks boot in parallel);
    ``ready()`` waits until the app answers through nginx.
    """

    def __init__(self, name: str, workdir: Path, module: str | None,
                 env: Mapping[str, str] | None = None, probe: str = "/"):
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.module = module
        self.env = {**os.environ, **(env or {})}
        self.probe = probe
        self.socket = self.dir / "uwsgi.sock"
        self.uwsgi: ProcessGroup | None = None
        self.nginx = Nginx(self.dir / "nginx", DEBIAN_HTTP + nginx_site(self.socket, workdir),
                           SCHEME)
        self.url = self.nginx.url

    def start(self) -> Stack:
        ini = self.dir / "uwsgi.ini"
        ini.write_text(uwsgi_ini(self.module))
        # As `mayfly serve --socket` adds them; the hello app lives in bench/, outside any
        # installed package.
        argv = [tool("uwsgi"), "--ini", str(ini), "--ini", f"{ini}:socket",
                "--socket", str(self.socket), "--processes", str(PROCESSES),
                "--pythonpath", str(ROOT)]
        try:
            self.uwsgi = ProcessGroup(argv, self.dir / "uwsgi.log", env=self.env, cwd=self.dir)
            self.nginx.start(probe=None)
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self) -> Stack:
        try:
            wait_for(self.url + self.probe, self.uwsgi)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name}: {exc}\nnginx: {self.nginx.process.tail()}") from None
        return self

    def stop(self) -> None:
        self.nginx.stop()
        if self.uwsgi is not None:
            self.uwsgi.stop()

    def workers(self) -> list[int]:
        """The uWSGI worker pids (children of the master)."""
        return children(self.uwsgi.pid) if self.uwsgi else []

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Ceiling:
    """nginx alone, answering `return 200` (same main configuration)."""

    def __init__(self, workdir: Path):
        self.name = "nginx"
        self.nginx = Nginx(workdir / "nginx-ceiling", DEBIAN_HTTP + ceiling_site(workdir),
                           SCHEME)
        self.url = self.nginx.url

    def __enter__(self) -> Ceiling:
        self.nginx.start()
        return self

    def __exit__(self, *exc) -> None:
        self.nginx.stop()


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values
