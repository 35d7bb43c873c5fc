"""Where a redirect may lead: only a plain path on this site."""

from __future__ import annotations

import re

from flask import redirect
from werkzeug.wrappers import Response

# RFC 3986 path and query characters, nothing else: no control character, no
# space, no backslash, no non-ASCII (browsers drop tabs and newlines and read
# "\" as "/", so "/\t/host" or "/\host" would leave the site), and a second
# character that is not "/" (a scheme-relative "//host").
_LOCAL = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")
# Escapes that some decoder down the line could turn back into one of those:
# controls, space, "/", "\" and anything not ASCII; a "%" must start an escape.
_RISKY_ESCAPE = re.compile(
    r"%(?![0-9A-Fa-f]{2})|%(?:[01][0-9A-Fa-f]|2[0Ff]|5[Cc]|7[Ff]|[89A-Fa-f])")


def local_path(target: str) -> str:
    """``target`` if it is a plain local path (and query), else "/"."""
    if _LOCAL.fullmatch(target) and not _RISKY_ESCAPE.search(target):
        return target
    return "/"


def local_redirect(target: str, code: int = 303) -> Response:
    """A redirect to ``target`` if it stays on this site, else to "/".

    The Location is judged as it will be sent, after Werkzeug has encoded it,
    not only as it came in: a check on the input alone let "/\\t/host" through
    as "//host".
    """
    response = redirect(local_path(target), code=code)
    if local_path(response.headers["Location"]) != response.headers["Location"]:
        response = redirect("/", code=code)
    return response
