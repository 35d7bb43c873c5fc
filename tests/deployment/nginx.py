"""A throw-away nginx on loopback in front of several app servers (one ``upstream``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from ..live import free_port, wait_until_up

CONF = """
worker_processes 2;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$status $upstream_addr $request_method $uri';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream mayfly {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mayfly;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            # A refused connection moves on to the next app server; a POST
            # already sent is never repeated (nginx's default for non-idempotent
            # methods), so a reveal cannot run twice.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    assert found, "nginx is not installed (Debian: apt-get install nginx)"
    return found


class Nginx:
    """nginx -c CONF -p DIR -g 'daemon off;', everything in DIR."""

    def __init__(self, workdir: Path, upstreams: list[int]):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=30s;"
                            for port in upstreams)
        # As root, workers would drop to nobody and could not enter a private temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(CONF.format(dir=workdir, servers=servers, port=self.port, user=user))
        self.access_log = workdir / "access.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        args = [nginx_binary(), "-c", str(self.conf), "-p", str(self.workdir),
                "-g", "daemon off;"]
        self.log = open(self.workdir / "stderr.log", "wb")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            wait_until_up(self.url + "/healthz", process=self.process)
        except Exception:
            self.stop()
            raise
        return self

    def upstreams_seen(self, method: str = "POST") -> dict[str, int]:
        """How many requests of ``method`` each app server answered, from the access log."""
        seen: dict[str, int] = {}
        for line in self.access_log.read_text().splitlines():
            status, upstream, request_method, _ = line.split(" ", 3)
            if request_method == method:
                # After a refused connection nginx logs "A, B": B answered.
                answered = upstream.split(", ")[-1]
                seen[answered] = seen.get(answered, 0) + 1
        return seen

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None:
            self.log.close()
