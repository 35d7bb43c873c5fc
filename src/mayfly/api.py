"""The JSON API, /api/v1: create, look up, reveal, receipt, burn, replies, requests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request, url_for

from . import app_rules, bodies, crypto
from .config import Settings
from .errors import InvalidInput
from .limits import rate_limited
from .rules import (
    Created,
    NewSecret,
    parse_answer,
    parse_link_proof,
    parse_new_request,
    parse_new_secret,
    parse_reply,
    parse_reveal,
)
from .storage.base import Receipt, Taken
from .web import reader_language

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Room for the JSON around a base64url ciphertext (4/3 of its size).
_JSON_OVERHEAD = 64 * 1024


def max_body_bytes(settings: Settings) -> int:
    """The largest request body worth reading; Werkzeug refuses larger ones unread."""
    return -(-settings.max_ciphertext_bytes * 4 // 3) + _JSON_OVERHEAD


def timestamp(seconds: float | None) -> str | None:
    """RFC 3339, UTC, to the second."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def public_base(settings: Settings, host_url: Callable[[], str]) -> str:
    """Where absolute URLs start: MAYFLY_PUBLIC_URL, else the request's own origin."""
    # host_url is asked only when needed: Werkzeug rebuilds it (an IRI round trip).
    return settings.public_url.rstrip("/") or host_url().rstrip("/")


def public_urls(*paths: str) -> list[str]:
    """Absolute URLs for paths, under public_base."""
    base = public_base(app_rules().settings, lambda: request.host_url)
    return [base + path for path in paths]


def json_body() -> object:
    """The request's JSON document; anything else is a clear 400 or 415."""
    if not request.is_json:
        raise InvalidInput("send the body as Content-Type: application/json")
    return bodies.parse_json(bodies.read_body())


def _receipt_json(receipt: Receipt) -> dict:
    return {
        "id": receipt.id,
        "kind": receipt.kind,
        "state": receipt.state,
        "created_at": timestamp(receipt.created_at),
        "expires_at": timestamp(receipt.expires_at),
        "max_views": receipt.max_views,
        "views_left": receipt.views_left,
        "failed_attempts": receipt.failed_attempts,
        "first_read_at": timestamp(receipt.first_read_at),
        "last_read_at": timestamp(receipt.last_read_at),
        "ended_at": timestamp(receipt.ended_at),
        "reply_key": None if receipt.reply_key is None else {
            "public_key": crypto.b64encode(receipt.reply_key.public_key),
            "wrapped_private_key": crypto.b64encode(receipt.reply_key.wrapped_key),
        },
        "replies_left": receipt.replies_left,
        "replies": [{"number": reply.number, "created_at": timestamp(reply.created_at),
                     "read_at": timestamp(reply.read_at)} for reply in receipt.replies],
    }


def _bearer() -> str | None:
    auth = request.authorization
    return auth.token if auth is not None and auth.type == "bearer" else None


@bp.post("/secrets")
@rate_limited("rate_limit_create")
def create_secret():
    """Store an encrypted secret; answer its id and the sender's manage token."""
    rules = app_rules()
    new = parse_new_secret(json_body(), rules.settings)
    created = rules.create(new, language=notice_language(new, request.environ))
    body = created_document(created, public_base(rules.settings, lambda: request.host_url))
    return jsonify(body), 201, {"Location": request.script_root + metadata_path(created.id)}


def notice_language(new: NewSecret, environ: dict) -> str:
    """A notice speaks the language the sender's page did (cookie, else Accept-Language)."""
    return reader_language(environ).code if new.notify_email else "en"


def created_document(created: Created, base: str) -> dict:
    """What the sender of a new secret gets back (here and in lean_writes.py)."""
    return {
        "id": created.id,
        "expires_at": timestamp(created.expires_at),
        "views_left": created.views_left,
        "manage_token": created.manage_token,
        "url": f"{base}/s/{created.id}",
        "receipt_url": f"{base}/r/{created.id}",
    }


def metadata_path(secret_id: str) -> str:
    """secret_metadata's path below the application's root (the Location of a create)."""
    return f"{bp.url_prefix}/secrets/{secret_id}"


@bp.get("/secrets/<secret_id>")
def secret_metadata(secret_id: str):
    """What a reader needs before revealing; never the ciphertext, never a change."""
    rules = app_rules()
    return jsonify(metadata_document(rules, rules.metadata(secret_id)))


def metadata_document(rules, live) -> dict:
    """A live secret's metadata as the API answers it (here and in lean_reads.py)."""
    return _reader_facts(rules, live) | {"views_left": live.views_left}


def _reader_facts(rules, live) -> dict:
    """What a message's reader and a request's answerer both see before the proofs."""
    return {
        "id": live.id,
        "expires_at": timestamp(live.expires_at),
        "passphrase": live.kdf is not None,
        "kdf": live.kdf,
        "attempts_left": max(rules.settings.max_attempts - live.failed_attempts, 0),
    }


@bp.post("/secrets/<secret_id>/reveal")
@rate_limited("rate_limit_reveal")
def reveal_secret(secret_id: str):
    """Use up one view and return the ciphertext, given both proofs."""
    link_proof, access_proof = parse_reveal(json_body())
    taken = app_rules().reveal(secret_id, link_proof, access_proof)
    return _ciphertext_response(*revealed_document(taken))


def revealed_document(taken: Taken) -> tuple[bytes, bytes, bytes]:
    """A revealed view as the JSON document's head, ciphertext and tail (for ciphertext_body).

    base64url needs no JSON escaping, so the document is built by hand.
    """
    reply_key = "null" if taken.reply_public_key is None \
        else f'"{crypto.b64encode(taken.reply_public_key)}"'
    tail = f'","views_left":{taken.views_left},"reply_public_key":{reply_key}}}'.encode()
    return b'{"ciphertext":"', taken.ciphertext, tail


def ciphertext_body(head: bytes, ciphertext: bytes, tail: bytes) -> tuple[Iterator[bytes], int]:
    """A document around a ciphertext's base64url, and its length.

    Streamed in slices: a 10 MiB ciphertext is never copied whole into JSON.
    """
    def document():
        yield head
        yield from crypto.b64encode_slices(ciphertext)
        yield tail

    return document(), len(head) + crypto.b64encoded_length(len(ciphertext)) + len(tail)


def _ciphertext_response(head: bytes, ciphertext: bytes, tail: bytes) -> Response:
    body, size = ciphertext_body(head, ciphertext, tail)
    return Response(body, mimetype="application/json", headers={"Content-Length": str(size)})


@bp.get("/secrets/<secret_id>/receipt")
def secret_receipt(secret_id: str):
    """The sender's view: state and times, never content; 304 if it has not changed."""
    response = jsonify(_receipt_json(app_rules().receipt(secret_id, _bearer())))
    # Checked only after the token: an unchanged receipt is a secret's news too.
    # The tag is a digest of the very answer, so any change of any field changes it.
    etag = crypto.b64encode(hashlib.sha256(response.get_data()).digest()[:16])
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    response.set_etag(etag)
    return response


@bp.delete("/secrets/<secret_id>")
def burn_secret(secret_id: str):
    """Burn a secret before it is read, at its sender's request."""
    app_rules().burn(secret_id, _bearer())
    return "", 204


@bp.post("/secrets/<secret_id>/reply-key")
@rate_limited("rate_limit_reveal")
def reply_key(secret_id: str):
    """The sender's public key, to a reader who proves they hold the whole link."""
    receipt = app_rules().reply_key(secret_id, parse_link_proof(json_body()))
    return jsonify({"public_key": crypto.b64encode(receipt.reply_key.public_key),
                    "replies_left": receipt.replies_left})


@bp.post("/secrets/<secret_id>/replies")
@rate_limited("rate_limit_create")  # a reply stores as much as a secret
def post_reply(secret_id: str):
    """Store a reply encrypted to the sender, one per view, given the link proof."""
    link_proof, ciphertext = parse_reply(json_body(), app_rules().settings)
    number = app_rules().post_reply(secret_id, link_proof, ciphertext)
    return jsonify({"number": number}), 201


@bp.post("/secrets/<secret_id>/replies/<int:number>/reveal")
@rate_limited("rate_limit_reveal")  # reading a reply spends it like a reveal
def reveal_reply(secret_id: str, number: int):
    """Hand a reply's ciphertext to the sender once (manage token); then it is gone."""
    ciphertext = app_rules().take_reply(secret_id, number, _bearer())
    return _ciphertext_response(b'{"ciphertext":"', ciphertext, b'"}')


@bp.post("/requests")
@rate_limited("rate_limit_create")
def create_request():
    """Store a request for a secret (its encrypted note and the requester's reply key)."""
    created = app_rules().create(parse_new_request(json_body(), app_rules().settings),
                                 kind="request")
    url, answer_url = public_urls(f"/q/{created.id}", f"/a/{created.id}")
    body = {
        "id": created.id,
        "expires_at": timestamp(created.expires_at),
        "manage_token": created.manage_token,
        "url": url,
        "answer_url": answer_url,
    }
    location = url_for("api.request_metadata", request_id=created.id)
    return jsonify(body), 201, {"Location": location}


@bp.get("/requests/<request_id>")
def request_metadata(request_id: str):
    """What an answerer needs before opening a request; never the note, never a change."""
    rules = app_rules()
    return jsonify(_reader_facts(rules, rules.metadata(request_id, kind="request")))


@bp.post("/requests/<request_id>/open")
@rate_limited("rate_limit_reveal")
def open_request(request_id: str):
    """The encrypted note and the key to answer to, given both proofs; nothing is used up."""
    link_proof, access_proof = parse_reveal(json_body())
    opened = app_rules().open_request(request_id, link_proof, access_proof)
    return jsonify({"note": crypto.b64encode(opened.note),
                    "public_key": crypto.b64encode(opened.public_key),
                    "expires_at": timestamp(opened.expires_at)})


@bp.post("/requests/<request_id>/answer")
@rate_limited("rate_limit_create")  # an answer stores as much as a secret
def answer_request(request_id: str):
    """Store the one answer, encrypted to the requester; a second one is refused (409)."""
    link_proof, access_proof, ciphertext = parse_answer(json_body(), app_rules().settings)
    number = app_rules().answer(request_id, link_proof, access_proof, ciphertext)
    return jsonify({"number": number}), 201
