"""A hostile HTTP server on loopback: it answers whatever a test scripts, byte for byte."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[BaseHTTPRequestHandler], None]


def raw(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """An answer with exactly this status line, headers and body (and a Content-Length)."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        head = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
        lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in head.items()]
        handler.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return answer


def json_answer(document: object, status: str = "200 OK") -> Answer:
    """A JSON document (any shape the test likes)."""
    return raw(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


def drip_body(every: float = 0.2) -> Answer:
    """Promise 60,000 bytes, then send one every ``every`` seconds (each read is quick)."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 60000\r\n\r\n{")
        _keep_writing(handler, lambda: b" ", every)
    return answer


def drip_headers(every: float = 0.2) -> Answer:
    """A status line, then one header line every ``every`` seconds, forever."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        _keep_writing(handler, lambda: b"X-Slow: 1\r\n", every)
    return answer


def endless_body(announce: bool = False) -> Answer:
    """An answer that never ends: 64 KiB after 64 KiB (with a huge Content-Length, if asked)."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        length = f"Content-Length: {1 << 40}\r\n" if announce else ""
        handler.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}"
                            "Connection: close\r\n\r\n".encode() + b'{"ciphertext":"')
        _keep_writing(handler, lambda: b"A" * 65536, 0)
    return answer


def _keep_writing(handler: BaseHTTPRequestHandler, piece: Callable[[], bytes],
                  every: float) -> None:
    """Write until the client hangs up (or a minute passes), counting what was sent."""
    stop = time.monotonic() + 60
    try:
        while time.monotonic() < stop and not handler.server.closing.is_set():
            handler.wfile.write(piece())
            handler.wfile.flush()
            handler.server.sent += 1
            time.sleep(every)
    except OSError:
        pass  # the client gave up: what the test wants


class Hostile:
    """A loopback server; ``on`` scripts an answer, ``requests`` records what came in."""

    def __init__(self):
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        self.headers: list[dict[str, str]] = []  # each request's, in the same order
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hostile.requests.append((self.command, self.path, body))
                hostile.headers.append(dict(self.headers))
                for (method, suffix), answer in hostile.routes.items():
                    if method == self.command and self.path.endswith(suffix):
                        return answer(self)
                return json_answer({"title": "Not Found"}, "404 Not Found")(self)

            do_GET = do_POST = do_DELETE = handle_one

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.closing = threading.Event()
        self.server.sent = 0
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def on(self, method: str, path_suffix: str, answer: Answer) -> Hostile:
        self.routes[(method, path_suffix)] = answer
        return self

    @property
    def pieces_sent(self) -> int:
        return self.server.sent

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.closing.set()
        self.server.shutdown()
        self.server.server_close()

