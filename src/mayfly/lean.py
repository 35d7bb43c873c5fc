"""LeanPath: a few hot requests answered before Flask, by handlers that need no request context.

A row of the table is (method, compiled path pattern, handler); the first row
whose method and whole path match is asked, as handler(app, environ, match).
It returns (status, headers, body), or None to let Flask answer: every error,
and every case a handler does not know to be plain, stays Flask's.

A handler that read the body puts it back before it lets Flask answer
(hand_over), and one that failed after it changed something (a view spent, a
secret stored, a request counted) hands over its error too: Flask raises it
again before anything else, so that its error handlers answer and the change
is never made twice.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable

from flask import Flask, request

Answer = tuple[str, list[tuple[str, str]], Iterable[bytes]]
Handler = Callable[[Flask, dict, re.Match], Answer | None]
Route = tuple[str, re.Pattern, Handler]
# Where hand_over leaves an error for Flask to raise again.
FAILED = "mayfly.lean_failed"


def read_body(environ: dict, limit: int) -> bytes | None:
    """The body, of the declared Content-Length; else None, and Flask answers.

    None, with nothing read, when no length is declared in plain digits, or it
    is 0 or over ``limit``. A read may return less than asked (a socket, uWSGI's
    input), so it is repeated up to the length; a body that ends before it is
    put back for Flask, which sees it end early too.
    """
    declared = environ.get("CONTENT_LENGTH", "")
    if "HTTP_TRANSFER_ENCODING" in environ or not (declared.isascii() and declared.isdigit()):
        return None
    length = int(declared)
    if not 0 < length <= limit:
        return None
    stream = environ["wsgi.input"]
    body = stream.read(length)
    if len(body) == length:
        return body
    pieces, got = [body], len(body)
    while got < length and (piece := stream.read(length - got)):
        pieces.append(piece)
        got += len(piece)
    body = b"".join(pieces)
    return body if got == length else hand_over(environ, body)


def hand_over(environ: dict, body: bytes, error: Exception | None = None) -> None:
    """Let Flask answer: the body read put back as it came, and ``error`` to raise, if any."""
    environ["wsgi.input"] = io.BytesIO(body)
    if error is not None:
        environ[FAILED] = error
    return None


def json_is_compact(app: Flask) -> bool:
    """Whether jsonify answers compact JSON (in debug mode it indents, and Flask answers)."""
    compact = app.json.compact
    return compact is True or (compact is None and not app.debug)


def compact_json(app: Flask, document: object) -> bytes:
    """jsonify's body for ``document``, where json_is_compact(app)."""
    return (app.json.dumps(document, separators=(",", ":")) + "\n").encode()


class LeanPath:
    """WSGI middleware: the table's handlers first, then the wrapped application."""

    def __init__(self, app: Flask, wsgi_app: Callable, routes: Iterable[Route]):
        self.app = app
        self.wsgi_app = wsgi_app
        self.routes = list(routes)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        for route_method, pattern, handler in self.routes:
            if route_method == method and (match := pattern.fullmatch(path)):
                answer = handler(self.app, environ, match)
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return body
                break
        return self.wsgi_app(environ, start_response)


def _raise_handed_over_error() -> None:
    error = request.environ.pop(FAILED, None)
    if error is not None:
        raise error


def init_app(app: Flask, routes: Iterable[Route]) -> None:
    """Put the table in front of Flask (inside SecurityHeaders, so its answers get them)."""
    app.wsgi_app = LeanPath(app, app.wsgi_app, routes)
    # First of all hooks: a handed-over error is answered before any other check.
    app.before_request_funcs.setdefault(None, []).insert(0, _raise_handed_over_error)
