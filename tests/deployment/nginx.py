"""A throw-away nginx on loopback in front of several app servers (one ``upstream``)."""

from __future__ import annotations

from pathlib import Path

from harness.nginx import Nginx

SITE = """
    log_format upstream '$status $upstream_addr $request_method $uri';
    access_log {{logs}}/access.log upstream;

    upstream mayfly {{
{servers}
    }}
    server {{
        listen {{listen}};
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
"""


class UpstreamNginx(Nginx):
    """harness/'s scratch nginx, proxying to app servers on ``upstreams`` (ports of 127.0.0.1)."""

    def __init__(self, workdir: Path, upstreams: list[int]):
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=30s;"
                            for port in upstreams)
        super().__init__(workdir, SITE.format(servers=servers))
        self.access_log = self.logs / "access.log"

    def start(self) -> UpstreamNginx:
        super().start(probe="/healthz", ok=(200,))
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
