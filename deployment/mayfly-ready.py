"""Wait until mayfly answers GET /healthz on its uWSGI socket (mayfly.service's ExecStartPost=).

    python3 mayfly-ready.py /run/mayfly/mayfly.sock [SECONDS]

uWSGI tells systemd it is ready as soon as its master runs, before any worker has
loaded the app (each worker imports it after the fork). Until this exits 0 the
unit stays "activating", so `systemctl start` and `restart` return once mayfly
really answers, and fail when it never will: a bad MAYFLY_* setting makes the
worker exit, uWSGI stops (need-app) and systemd fails the start.

Installed by deployment/install.py; only the standard library (it runs in the
service's sandbox, without network).
"""

from __future__ import annotations

import socket
import struct
import sys
import time

POLL = 0.1


def uwsgi_packet(path: str) -> bytes:
    """A GET request in the uwsgi protocol: a 4-byte header, then sized key/value pairs."""
    variables = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "REQUEST_URI": path,
                 "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                 "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
                 "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(struct.pack("<H", len(key)) + key.encode()
                    + struct.pack("<H", len(value)) + value.encode()
                    for key, value in variables.items())
    return struct.pack("<BHB", 0, len(body), 0) + body


def status(socket_path: str) -> int:
    """The HTTP status mayfly answers to GET /healthz (OSError while nobody answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(socket_path)
        conn.sendall(uwsgi_packet("/healthz"))
        head = conn.recv(64).split(b"\r\n", 1)[0].split()
    if len(head) < 2 or not head[1].isdigit():
        raise OSError(f"not an HTTP answer: {head!r}")
    return int(head[1])


def main(argv: list[str]) -> int:
    socket_path = argv[1]
    deadline = time.monotonic() + (float(argv[2]) if len(argv) > 2 else 60.0)
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            code = status(socket_path)
            if code == 200:
                return 0
            last = f"GET /healthz answered {code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(POLL)
    print(f"mayfly-ready: mayfly did not answer on {socket_path}: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
