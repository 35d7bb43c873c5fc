"""Request bodies: how much each endpoint reads, and which JSON shapes it accepts.

Every body is refused (413) before it is read when it is larger than its
endpoint can need: the configured limit for a create, a few KiB for anything
else. A JSON body is scanned before it is parsed: the API only ever takes an
object of a few fields, one of which may be a small object, so a document with
more strings and punctuation than that, or nested deeper, is refused (400)
before Python builds it (14 MB of ``[{},{},…]`` once grew a worker by 350 MB,
and deep nesting raised RecursionError).
"""

from __future__ import annotations

import json
import re
import secrets

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import InvalidInput

# A reveal's two proofs take about 110 bytes; no other endpoint but create reads a body.
SMALL_BODY = 4 * 1024
# The largest create (six fields, a kdf of three) has 34 strings and punctuation marks.
MAX_TOKENS = 64
MAX_DEPTH = 2
# Where a token starts: a string's opening quote or one structural character. A
# short string without escapes (a field's name, a proof) is matched whole, in C.
_SHORT_STRING = 256
_TOKEN_START = re.compile(rb'"[^"\\]{0,%d}"|["\[\]{},:]' % _SHORT_STRING)
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_COLON = ord(":")
_PUNCTUATION = b"[]{},:"
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# An object value longer than this (a ciphertext) is not decoded into a str.
LONG_VALUE = 64 * 1024
# The fields whose value may stay bytes: the rules decode them as base64url.
_LONG_FIELDS = frozenset({"ciphertext"})
# Stands for a long value during the parse; the random part is this process's own.
_MARKER_TEXT = "\x00mayfly-long-" + secrets.token_hex(16) + "-"
_MARKER = _MARKER_TEXT.replace("\x00", "\\u0000")
_PIECE = 64 * 1024
# The endpoints whose body carries a ciphertext: a secret, a reply, a request, an answer.
_CARRY_CIPHERTEXT = frozenset({"api.create_secret", "api.post_reply", "api.create_request",
                               "api.answer_request"})


def _string_end(data: bytes, start: int) -> int:
    """Just past the quote that closes the string whose content begins at `start`.

    bytes.find rather than a regular expression: a ciphertext is a 13 MB
    string, which the expression walked a character at a time (~0.3 s).
    """
    pos = start
    while (quote := data.find(b'"', pos)) >= 0:
        # Escaped when an odd run of backslashes precedes it (each pair is one "\\").
        run = quote
        while run > start and data[run - 1] == _BACKSLASH:
            run -= 1
        if (quote - run) % 2 == 0:
            return quote + 1
        pos = quote + 1
    raise InvalidInput("the body is not valid JSON")  # a string that never ends


def _plainly_in_shape(data: bytes) -> bool:
    """Whether check_shape passes a short body without escapes: counted in bulk, in C.

    Without a backslash, the quotes pair up in order: between pairs are the
    strings, outside them the punctuation. Any doubt says False, and
    check_shape walks the body to find the first problem, as before.
    """
    if len(data) > LONG_VALUE or b"\\" in data:
        return False
    parts = data.split(b'"')
    if len(parts) % 2 == 0:  # an odd number of quotes: a string never ends
        return False
    outside = b"".join(parts[::2])
    punctuation = len(outside) - len(outside.translate(None, _PUNCTUATION))
    if len(parts) // 2 + punctuation > MAX_TOKENS:
        return False
    depth = 0
    for bracket in outside.translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in _OPEN else -1
        if depth > MAX_DEPTH:
            return False
    return True


def check_shape(data: bytes) -> list[tuple[int, int]]:
    """Refuse a document with more tokens or deeper nesting than the API ever sends.

    Returns where the long object values without escapes are (their content,
    quotes excluded), which parse_json can then leave as bytes.
    """
    if _plainly_in_shape(data):  # no value is long, either
        return []
    tokens = depth = pos = previous = 0
    long_values = []
    while match := _TOKEN_START.search(data, pos):
        tokens += 1
        if tokens > MAX_TOKENS:
            raise InvalidInput("the body has more fields or values than any request needs")
        first, pos = data[match.start()], match.end()
        if first == _QUOTE and pos - match.start() == 1:  # a long string, or one with escapes
            start, pos = pos, _string_end(data, pos)
            if previous == _COLON and pos - 1 - start > LONG_VALUE \
                    and data.find(b"\\", start, pos - 1) < 0:
                long_values.append((start, pos - 1))
        elif first in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidInput("the body is nested deeper than any request needs")
        elif first in _CLOSE:
            depth -= 1
        previous = first
    return long_values


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InvalidInput(f"the field {twice} appears twice", field=twice)
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


class _Reparse(Exception):
    """A long value was not where bytes may stand for it: parse the whole body as usual."""


def _without_long_values(data: bytes, spans: list[tuple[int, int]]) -> object:
    """Parse with each long value replaced by a marker, then put back as a memoryview.

    json.loads of a 13 MB body holds the body, its decoded text and the
    ciphertext's string at once (three copies); here the ciphertext stays in
    the body's bytes. The marker holds a per-process random part, so that no
    client can send a string the parse would take for one.
    """
    view = memoryview(data)
    pieces, pos = [], 0
    for number, (start, end) in enumerate(spans):
        pieces += [view[pos:start], f"{_MARKER}{number}".encode("ascii")]
        pos = end
    pieces.append(view[pos:])
    found: list[int] = []

    def restore(pairs: list[tuple[str, object]]) -> dict:
        for index, (key, value) in enumerate(pairs):
            if isinstance(value, str) and value.startswith(_MARKER_TEXT):
                if key not in _LONG_FIELDS:
                    raise _Reparse()
                found.append(number := int(value[len(_MARKER_TEXT):]))
                pairs[index] = (key, view[slice(*spans[number])])
        return _unique_keys(pairs)

    document = json.loads(b"".join(pieces), object_pairs_hook=restore)
    if sorted(found) != list(range(len(spans))):
        raise _Reparse()
    return document


def parse_json(data: bytes) -> object:
    """A JSON document of a shape the API uses, without duplicate keys; else InvalidInput.

    A long ciphertext comes back as a memoryview of the body's base64url
    (ASCII bytes, still to be checked by its decoder), not as a str.
    """
    long_values = check_shape(data)
    try:
        if long_values:
            try:
                return _without_long_values(data, long_values)
            except _Reparse:
                pass
        # json.loads(data, object_pairs_hook=_unique_keys), but without a new
        # decoder and scanner for every body.
        return _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON") from None


def read_body() -> bytes | bytearray:
    """The request's body, within its endpoint's limit.

    Read in pieces rather than with get_data(): for a streamed body (no
    Content-Length) Werkzeug's readall stops silently at the limit, which
    would turn an oversized body into a truncated one instead of a 413.
    """
    stream, length = request.stream, request.content_length
    if length is None:
        pieces = []
        while piece := stream.read(_PIECE):
            pieces.append(piece)
        return b"".join(pieces)
    # A declared length: one buffer filled in place. Joining pieces held a
    # 13 MB body twice at the join.
    body = bytearray(length)
    with memoryview(body) as view:
        filled = 0
        while filled < length and (got := stream.readinto(view[filled : filled + _PIECE])):
            filled += got
    del body[filled:]
    return body


def init_app(app: Flask, create_limit: int) -> None:
    """Bound every request's body: ``create_limit`` for a create, SMALL_BODY elsewhere."""

    @app.before_request
    def _bound_the_body():
        limit = create_limit if request.endpoint in _CARRY_CIPHERTEXT else SMALL_BODY
        # Werkzeug enforces this while reading (a chunked body has no length)...
        request.max_content_length = limit
        # ...and a declared length is refused here, before anything is read.
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()
