"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

from .errors import MayflyError

log = logging.getLogger(__name__)
PROBLEM_BASE = "https://mayfly.invalid/problems/"


def problem(status: int, title: str, detail: str | None = None, slug: str | None = None,
            **extra) -> Response:
    """A problem+json response; ``slug`` names the problem type under PROBLEM_BASE."""
    body = {"type": PROBLEM_BASE + slug if slug else "about:blank", "title": title,
            "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def wants_page() -> bool:
    """Whether an error should be a page rather than problem+json."""
    return not request.path.startswith("/api/") and request.accept_mimetypes.accept_html


# Headers that tell a client what to do next: kept whether it gets a page or a problem.
_KEPT_HEADERS = ("Retry-After", "Allow")


def _page_or_problem(response: Response, error: Exception) -> Response:
    # Handed over by web.init_app, so that this module needs no templates nor Babel.
    render = current_app.extensions.get("mayfly.error_page")
    if render is None or not wants_page():
        return response
    page = render(response.status_code, error)
    for header in _KEPT_HEADERS:
        if header in response.headers:
            page.headers[header] = response.headers[header]
    return page


def _mayfly_error(error: MayflyError) -> Response:
    response = problem(error.status, error.title, error.detail, error.slug, **error.extra)
    return _page_or_problem(response, error)


def _http_error(error: HTTPException) -> Response:
    response = problem(error.code or 500, error.name, error.description)
    original = error.get_response().headers
    for header in _KEPT_HEADERS:
        if header in original:
            response.headers[header] = original[header]
    return _page_or_problem(response, error)


def _unexpected(error: Exception) -> Response:
    # The traceback goes to the log (which holds no secret material: bodies are
    # never logged); the client learns nothing but that it was our fault.
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _http_error(InternalServerError())


def init_app(app: Flask) -> None:
    """Answer every error, ours or the framework's, as a problem (or a page)."""
    app.register_error_handler(MayflyError, _mayfly_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
