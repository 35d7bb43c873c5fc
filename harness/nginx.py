"""A scratch nginx master on loopback: its configuration, logs and temporary files in one directory.

The ``site`` is what goes inside ``http {}`` (the deployment's rendered
``mayfly.conf``, or a test's upstream block), with ``{listen}`` and ``{logs}``
left for this module to fill in: a free port of 127.0.0.1, and the directory's
``logs``. Around it, only what nginx needs to run from the directory; a caller
that wants Debian's http defaults (the benchmark) puts them in its site, since
they change behaviour: with ``gzip on``, an app server killed mid-response leaves
a broken chunked answer where nginx would otherwise answer 502.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from .processes import ProcessGroup, free_port, wait_until_up

# The http {} around a site: every path in our directory.
MAIN_CONF = """\
{user}
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{
    worker_connections 1024;
}}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{site}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, which a user's PATH may lack); missing is a failure."""
    path = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    found = shutil.which("nginx", path=path)
    if not found:
        raise RuntimeError("nginx is not installed (scripts/test.sh and scripts/bench.sh"
                           " install it)")
    return found


class Nginx:
    """An nginx master of our own serving ``site`` on a free port of 127.0.0.1."""

    def __init__(self, workdir: Path, site: str, scheme: str = "http"):
        self.dir = workdir
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.logs = workdir / "logs"
        for sub in ("tmp", "logs"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        # As root, workers would drop to nobody and could not enter a private directory.
        user = "user root;" if os.geteuid() == 0 else ""
        body = site.replace("{listen}", f"127.0.0.1:{self.port}").replace("{logs}", str(self.logs))
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(MAIN_CONF.format(user=user, dir=workdir, site=body))
        self.process: ProcessGroup | None = None

    def start(self, probe: str | None = "/", ok=range(500)) -> Nginx:
        """Start; wait until ``probe`` answers one of ``ok`` unless it is None."""
        argv = [nginx_binary(), "-c", self.conf, "-p", self.dir, "-e", self.dir / "error.log"]
        self.process = ProcessGroup(argv, self.dir / "nginx.out", name="nginx")
        if probe is not None:
            try:
                wait_until_up(self.url + probe, 60, self.process, ok=ok, verify=False)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Gracefully (SIGQUIT: requests in flight finish), the group killed after 5 s."""
        if self.process is not None:
            self.process.stop(grace=5, sig=signal.SIGQUIT)

    def workers(self) -> list[int]:
        """nginx's worker pids (children of the master)."""
        if self.process is None:
            return []
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(part) for part in text.split()]
