"""LeanPath: a few hot requests answered before Flask, by handlers that need no request context.

A row of the table is (method, compiled path pattern, handler); the first row
whose method and whole path match is asked, as handler(app, environ, match).
It returns (status, headers, body), or None to let Flask answer: every error,
and every case a handler does not know to be plain, stays Flask's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flask import Flask

Answer = tuple[str, list[tuple[str, str]], list[bytes]]
Handler = Callable[[Flask, dict, re.Match], Answer | None]
Route = tuple[str, re.Pattern, Handler]


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


def init_app(app: Flask, routes: Iterable[Route]) -> None:
    """Put the table in front of Flask (inside SecurityHeaders, so its answers get them)."""
    app.wsgi_app = LeanPath(app, app.wsgi_app, routes)
