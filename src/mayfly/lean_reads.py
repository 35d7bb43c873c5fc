"""The two GETs every reader makes, answered without a Flask request context.

The notification page (/s/<id>) and a secret's metadata (GET /api/v1/secrets/<id>)
are the most frequent requests, and Flask's request context, URL matching,
hooks and locale selection cost more than the look-up itself (issue #13).
Here each is answered for exactly the plain case only: a GET without query or
body, for a live secret, and (for the page) a language whose page is already
rendered. Anything else returns None and Flask answers, so that every error
page and problem has one source of truth. Neither ever changes a secret.

Each handler takes (app, environ, match) and returns (status, headers, body)
or None, as LeanPath (lean.py) dispatches; the security headers are added
outside, by SecurityHeaders.
"""

from __future__ import annotations

import re

from flask import Flask

from . import EXTENSION
from .api import metadata_document
from .lean import compact_json, json_is_compact
from .rules import ID_PATTERN, Rules
from .storage.base import Live
from .web import NOTIFICATION_CACHE, reader_language

Answer = tuple[str, list[tuple[str, str]], list[bytes]]

# The id's shape; anything else is Flask's to refuse.
PAGE_PATH = re.compile(rf"/s/({ID_PATTERN.pattern})")
METADATA_PATH = re.compile(rf"/api/v1/secrets/({ID_PATTERN.pattern})")


def _plain(environ: dict) -> bool:
    """A GET with no query string and no body: nothing a Flask hook would have a say in."""
    return (environ.get("REQUEST_METHOD") == "GET" and not environ.get("QUERY_STRING")
            # Under a path prefix, Flask's URLs differ: it answers.
            and not environ.get("SCRIPT_NAME")
            # bodies.py bounds every body, a GET's too: a body of any size goes to Flask.
            and environ.get("CONTENT_LENGTH", "") in ("", "0")
            and "HTTP_TRANSFER_ENCODING" not in environ)


def _live(app: Flask, secret_id: str) -> Live | None:
    """The live secret, else None: gone or failing, Flask answers with its error page."""
    rules: Rules = app.extensions[EXTENSION]
    try:
        return rules.metadata(secret_id)
    except Exception:  # gone or failing: a look-up changes nothing, so Flask may ask again
        return None


def _answer(content_type: str, body: bytes) -> Answer:
    # The headers Werkzeug's Response would set, in its order.
    return "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))], [body]


def notification_page(app: Flask, environ: dict, match: re.Match) -> Answer | None:
    """'You have a new message' from the rendered page's cache (web.notification_parts)."""
    if not _plain(environ):
        return None
    cache = app.extensions.get(NOTIFICATION_CACHE)
    if cache is None:
        return None
    live = _live(app, match[1])
    if live is None:
        return None
    # Rendering needs Flask-Babel's app context: the first reader of each
    # language goes through Flask, which fills the cache.
    parts = cache.get((reader_language(environ).code, live.kdf is not None))
    if parts is None:
        return None
    return _answer("text/html; charset=utf-8", match[1].encode().join(parts))


def secret_metadata(app: Flask, environ: dict, match: re.Match) -> Answer | None:
    """What a reader needs before revealing, as api.secret_metadata answers it."""
    if not _plain(environ) or not json_is_compact(app):
        return None
    live = _live(app, match[1])
    if live is None:
        return None
    return _answer("application/json",
                   compact_json(app, metadata_document(app.extensions[EXTENSION], live)))


# LeanPath's rows for these two GETs.
ROUTES = [("GET", PAGE_PATH, notification_page), ("GET", METADATA_PATH, secret_metadata)]
