"""Headers every response carries: CSP, HSTS, no referrer, no caching of secrets."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Settings

# Pages run only our own scripts; Trusted Types forbid string-to-DOM sinks.
PAGE_CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
])
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = "max-age=63072000; includeSubDomains"

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def _headers(response: Response) -> Response:
    response.headers.update(COMMON)
    is_static = request.path.startswith("/static/")
    if not is_static:
        # Nothing but static assets may be kept by a browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    if "Content-Security-Policy" not in response.headers:
        is_page = response.mimetype == "text/html"
        response.headers["Content-Security-Policy"] = PAGE_CSP if is_page else API_CSP
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """Add the headers; trust X-Forwarded-* from exactly ``proxy_count`` proxies."""
    app.after_request(_headers)
    if settings.proxy_count:
        count = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
