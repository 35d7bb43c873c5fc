"""The two writes every message costs, answered without a Flask request context.

A create (POST /api/v1/secrets) and a reveal (POST /api/v1/secrets/<id>/reveal)
paid more for Flask's request context, URL matching and hooks than for their
own work (issue #13). Here each is answered for its plain success only: a
JSON body of a declared length within the endpoint's limit, no query string,
no path prefix, and a body the API's own parsers accept. The rules, the
documents and the rate limits are the ones the views in api.py use, so the
answer is Flask's to the byte.

Before anything changes, any doubt hands the request to Flask with its body put
back (lean.hand_over). Once the rate limit has counted it, every failure is
handed over as an error that Flask raises again before its other hooks: its
error handlers answer, and nothing (a view spent, a secret stored, a request
counted) is ever done twice.
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import Flask
from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from . import EXTENSION, bodies
from .api import (
    ciphertext_body,
    created_document,
    metadata_path,
    notice_language,
    public_base,
    revealed_document,
)
from .lean import Answer, compact_json, hand_over, json_is_compact, read_body
from .limits import count_request
from .rules import ID_PATTERN, Rules, parse_new_secret, parse_reveal

CREATE_PATH = re.compile(r"/api/v1/secrets")
# The id's shape; anything else is Flask's to refuse.
REVEAL_PATH = re.compile(rf"/api/v1/secrets/({ID_PATTERN.pattern})/reveal")
# A pure function of two strings, and its IRI round trip was a tenth of a
# create's CPU without MAYFLY_PUBLIC_URL. Bounded: the Host header is the client's.
_origin = lru_cache(maxsize=64)(get_current_url)


def _plain(app: Flask, environ: dict) -> bool:
    """A JSON POST with nothing a Flask hook or URL builder would have a say in."""
    return (not environ.get("QUERY_STRING") and not environ.get("SCRIPT_NAME")
            # request.is_json takes more spellings: Flask answers those.
            and environ.get("CONTENT_TYPE") == "application/json"
            # Flask checks the host against TRUSTED_HOSTS as it builds URLs.
            and app.config.get("TRUSTED_HOSTS") is None and json_is_compact(app))


def _host_url(environ: dict) -> str:
    """request.host_url, from the environ (after ProxyFix, as Flask sees it)."""
    return _origin(environ["wsgi.url_scheme"], get_host(environ))


# The largest create body read here. What is read is held while Flask, when it
# answers instead, reads its own copy: a larger create (an attachment) goes to
# Flask unread, so that its body is in a worker's memory once.
LEAN_BODY = 64 * 1024


def create_secret(app: Flask, environ: dict, match: re.Match) -> Answer | None:
    """A new secret's id and manage token, as api.create_secret answers them."""
    if not _plain(app, environ):
        return None
    body = read_body(environ, min(LEAN_BODY, app.config["MAX_CONTENT_LENGTH"]))
    if body is None:
        return None
    rules: Rules = app.extensions[EXTENSION]
    try:
        new = parse_new_secret(bodies.parse_json(body), rules.settings)
        language = notice_language(new, environ)
        base = public_base(rules.settings, lambda: _host_url(environ))
    except Exception:  # nothing has changed yet: Flask reads the body again and answers
        return hand_over(environ, body)
    try:
        count_request(app, "api.create_secret", environ)
        created = rules.create(new, language=language)
        document = compact_json(app, created_document(created, base))
    except Exception as error:  # a secret may be stored: Flask answers the error alone
        return hand_over(environ, body, error)
    return "201 CREATED", [("Content-Type", "application/json"),
                           ("Content-Length", str(len(document))),
                           ("Location", metadata_path(created.id))], [document]


def reveal_secret(app: Flask, environ: dict, match: re.Match) -> Answer | None:
    """One view's ciphertext, given both proofs, as api.reveal_secret answers it."""
    if not _plain(app, environ):
        return None
    body = read_body(environ, bodies.SMALL_BODY)
    if body is None:
        return None
    try:
        link_proof, access_proof = parse_reveal(bodies.parse_json(body))
    except Exception:  # nothing has changed yet: Flask reads the body again and answers
        return hand_over(environ, body)
    try:
        count_request(app, "api.reveal_secret", environ)
        taken = app.extensions[EXTENSION].reveal(match[1], link_proof, access_proof)
        document, size = ciphertext_body(*revealed_document(taken))
    except Exception as error:  # a view or an attempt may be spent: never try again
        return hand_over(environ, body, error)
    # In the order of api._ciphertext_response's headers.
    return "200 OK", [("Content-Length", str(size)),
                      ("Content-Type", "application/json")], document


# LeanPath's rows for these two POSTs.
ROUTES = [("POST", CREATE_PATH, create_secret), ("POST", REVEAL_PATH, reveal_secret)]
