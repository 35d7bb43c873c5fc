"""A client of a mayfly server: encrypts locally, speaks the JSON API.

The CLI is a thin layer over this module, and the tests use it to drive live
servers. Only ciphertext, proof hashes and proofs ever leave this process.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from . import crypto
from .config import Settings
from .errors import DecryptionFailed

GONE = "this message has already been read, has expired or never existed"
NO_REPLY = "the sender allows no reply to this message, or its receipt is gone"
# The server's own bounds for PBKDF2 (rules.py): a link may name any server,
# and 2 billion iterations would keep this process busy for an hour.
MIN_ITERATIONS = crypto.PBKDF2_ITERATIONS
MAX_ITERATIONS = 10_000_000
# Every answer but a reveal is a few hundred bytes; a reveal is the ciphertext
# in base64url plus this much room for the JSON around it.
SMALL_ANSWER = 64 * 1024
TIMEOUT = 120.0
ID = re.compile(r"[A-Za-z0-9_-]{24}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,512}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
STATES = {"waiting", "answered", "read", "burned", "failed", "expired"}
ANSWERED = "this request has already been answered"
# What each kind of link is called, by the letter its path starts with.
LINK_NAMES = {"s": "message link", "r": "receipt link", "q": "request link", "a": "answer link"}
# An ETag we echo back in If-None-Match: quoted, printable, short (RFC 9110 §8.8.3).
ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e]{1,128}"')
# Watching a receipt (status --wait), as the receipt page does: the first pause,
# its growth while nothing changes, and its ceiling, in seconds.
POLL_FIRST = 2.0
POLL_GROWTH = 1.5
POLL_MAX = 30.0
RETRIES = 5
MAX_RETRY_AFTER = 300


class ClientError(Exception):
    """A one-line reason a client operation failed."""


class WrongPassphrase(ClientError):
    """The passphrase was wrong; the server counted an attempt."""

    def __init__(self, attempts_left: int):
        self.attempts_left = attempts_left
        super().__init__(f"wrong passphrase, {attempts_left} attempt(s) left")


class Malformed(ClientError):
    """The server's answer is not what a mayfly server answers."""

    def __init__(self, what: str):
        super().__init__(f"the server's answer is malformed ({what})")


class Unreachable(ClientError):
    """The server could not be reached, or the connection broke."""


class Busy(ClientError):
    """The server said to come back later (429 or 503), in ``retry_after`` seconds (0: unsaid)."""

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)


class AlreadyAnswered(ClientError):
    """Someone answered the request first; this answer was not sent."""

    def __init__(self):
        super().__init__(ANSWERED)


class Gone(ClientError):
    """Missing, expired or burned."""

    def __init__(self):
        super().__init__(GONE)


@dataclass(frozen=True)
class Link:
    """A parsed link: the server's base URL, the id and the fragment (key or token)."""

    base: str
    id: str
    fragment: str
    kind: str = "s"  # the letter of its path: s, r, q or a (LINK_NAMES)

    @classmethod
    def parse(cls, url: str, kind: str = "s") -> Link:
        """Split https://HOST[/prefix]/<kind>/<id>#<fragment>; ``kind`` may list several."""
        what = " or ".join(LINK_NAMES[letter] for letter in kind)
        try:
            parts = urlsplit(url.strip())
        except ValueError:  # a bracket out of place in the host
            raise ClientError(f"not a mayfly {what}: {url.strip()!r}") from None
        splits = [parts.path.rpartition(f"/{letter}/") for letter in kind]
        head, separator, secret_id = next((split for split in splits if split[1]), splits[0])
        if parts.scheme not in {"http", "https"} or not parts.netloc or not separator \
                or not secret_id:
            raise ClientError(f"not a mayfly {what}: {url.strip()!r}")
        if not parts.fragment:
            raise ClientError("the link is incomplete: the part after '#' is missing")
        return cls(f"{parts.scheme}://{parts.netloc}{head}", secret_id, parts.fragment,
                   separator.strip("/"))

    def key(self) -> bytes:
        """The 32-byte link key of a message link."""
        try:
            key = crypto.b64decode(self.fragment)
        except ValueError:
            key = b""
        if len(key) != crypto.KEY_BYTES:
            raise ClientError("the link is damaged: its key (after '#') is not valid")
        return key

    def token(self) -> str:
        """The manage token of a receipt link: the fragment up to its first '.'."""
        return self.fragment.split(".", 1)[0]

    def receipt_key(self) -> bytes:
        """The 32-byte reply secret a receipt link carries after its token, '.'-separated."""
        _token, _dot, rest = self.fragment.partition(".")
        try:
            key = crypto.b64decode(rest)
        except ValueError:
            key = b""
        if len(key) != crypto.KEY_BYTES:
            raise ClientError("this receipt link carries no reply key: replies cannot be read")
        return key


@dataclass(frozen=True)
class Asked:
    """What asking for a secret gives back: a link to send and a link to keep."""

    link: str
    answer_link: str
    id: str
    expires_at: str


@dataclass(frozen=True)
class Sent:
    """What sending a secret gives back."""

    link: str
    receipt_link: str
    id: str
    expires_at: str
    views_left: int


class Client:
    """Talks to one mayfly server, trusting none of its answers.

    Each request must be over within ``timeout`` seconds in all (not per read),
    no answer may be larger than a reveal of ``max_ciphertext_bytes`` can be,
    redirects are never followed (the proofs go to the server the link names,
    nowhere else) and every answer's shape is checked before it is used.
    """

    def __init__(self, server: str, session: requests.Session | None = None,
                 timeout: float = TIMEOUT,
                 max_ciphertext_bytes: int = Settings.max_ciphertext_bytes):
        self.server = server.rstrip("/")
        self.http = session or requests.Session()
        self.timeout = timeout
        self.reveal_limit = crypto.b64encoded_length(max_ciphertext_bytes) + SMALL_ANSWER

    def _call(self, method: str, path: str, limit: int = SMALL_ANSWER, **kwargs) -> object:
        """One request, bounded in time and size; the answer's JSON, or a ClientError."""
        _status, _tag, body = self._answer(method, path, limit, **kwargs)
        return _json(body)

    def _answer(self, method: str, path: str, limit: int = SMALL_ANSWER,
                timeout: float | None = None, **kwargs) -> tuple[int, str, bytes]:
        """One request's status, ETag and body; an error status is a ClientError."""
        timeout = self.timeout if timeout is None else timeout
        outcome: dict[str, object] = {}
        holder: dict[str, requests.Response] = {}
        deadline = time.monotonic() + timeout

        def exchange() -> None:
            try:
                outcome["answer"] = self._exchange(method, path, limit, deadline, holder,
                                                   timeout, **kwargs)
            except Exception as exc:  # handed to the caller's thread, re-raised there
                outcome["error"] = exc

        # A thread, because requests' timeouts are per socket read: a server
        # dripping a byte a second (even in its headers) never trips them.
        worker = threading.Thread(target=exchange, name="mayfly-request", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            _hang_up(holder.get("response"))
            raise ClientError(f"{printable(self.server)} did not answer within "
                              f"{timeout:g} s")
        if "error" in outcome:
            raise outcome["error"]
        status, retry_after, tag, body = outcome["answer"]
        if status >= 400:
            raise _problem_error(status, body, retry_after)
        return status, tag, body

    def _exchange(self, method: str, path: str, limit: int, deadline: float,
                  holder: dict, timeout: float, **kwargs) -> tuple[int, str, str, bytes]:
        headers = {"Accept": "application/json", "Accept-Encoding": "identity",
                   **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, self.server + path, headers=headers,
                                         timeout=timeout, allow_redirects=False,
                                         stream=True, **kwargs)
            holder["response"] = response
            with response:
                body = _read_body(response, limit, deadline)
                return (response.status_code, response.headers.get("Retry-After", ""),
                        response.headers.get("ETag", ""), body)
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach {printable(self.server)}: "
                              f"{type(exc).__name__}") from None

    def send(self, message: crypto.Message, *, expires_in: int | None = None,
             max_views: int = 1, passphrase: str | None = None, replies: bool = True,
             notify: str | None = None, language: str | None = None) -> Sent:
        """Encrypt a message and store it; return the link (with its key) and receipt link.

        With ``replies``, the receipt link also carries the secret that unwraps
        the private key readers' replies are encrypted to. With ``notify``, the
        server mails that address when the message is read, burned or expires
        unread, in ``language`` (a language tag such as zh-CN) where it has one.
        """
        link_key = crypto.new_link_key()
        receipt_key = crypto.new_link_key() if replies else None
        kdf = crypto.Kdf.new() if passphrase else None
        keys = crypto.derive_keys(link_key, passphrase or None, kdf)
        body = {
            "ciphertext": crypto.b64encode(crypto.seal(keys.content_key, crypto.pack(message))),
            "link_proof_hash": crypto.b64encode(crypto.proof_hash(keys.link_proof)),
            "access_proof_hash": crypto.b64encode(crypto.proof_hash(keys.access_proof)),
            "kdf": kdf.to_json() if kdf else None,
            "max_views": max_views,
        }
        if receipt_key is not None:
            pair = crypto.new_reply_keys(receipt_key)
            body["reply_key"] = {
                "public_key": crypto.b64encode(pair.public_key),
                "wrapped_private_key": crypto.b64encode(pair.wrapped_private_key),
            }
        if expires_in is not None:
            body["expires_in"] = expires_in
        if notify is not None:
            body["notify_email"] = notify
        headers = {"Accept-Language": language} if notify is not None and language else {}
        created = _created(self._call("POST", "/api/v1/secrets", json=body, headers=headers))
        fragment = created["manage_token"]
        if receipt_key is not None:
            fragment += "." + crypto.b64encode(receipt_key)
        return Sent(
            link=f"{created['url']}#{crypto.b64encode(link_key)}",
            receipt_link=f"{created['receipt_url']}#{fragment}",
            id=created["id"],
            expires_at=created["expires_at"],
            views_left=created["views_left"],
        )

    def ask(self, note: crypto.Message, *, expires_in: int | None = None,
            passphrase: str | None = None) -> Asked:
        """Store a request for a secret: the note encrypted as a message, and a reply key.

        The answer link carries the manage token and the receipt key that
        unwraps the private key the answer is encrypted to.
        """
        link_key, receipt_key = crypto.new_link_key(), crypto.new_link_key()
        kdf = crypto.Kdf.new() if passphrase else None
        keys = crypto.derive_keys(link_key, passphrase or None, kdf)
        pair = crypto.new_reply_keys(receipt_key)
        body = {
            "ciphertext": crypto.b64encode(crypto.seal(keys.content_key, crypto.pack(note))),
            "link_proof_hash": crypto.b64encode(crypto.proof_hash(keys.link_proof)),
            "access_proof_hash": crypto.b64encode(crypto.proof_hash(keys.access_proof)),
            "kdf": kdf.to_json() if kdf else None,
            "reply_key": {"public_key": crypto.b64encode(pair.public_key),
                          "wrapped_private_key": crypto.b64encode(pair.wrapped_private_key)},
        }
        if expires_in is not None:
            body["expires_in"] = expires_in
        created = _request_created(self._call("POST", "/api/v1/requests", json=body))
        return Asked(
            link=f"{created['url']}#{crypto.b64encode(link_key)}",
            answer_link=f"{created['answer_url']}#{created['manage_token']}."
                        f"{crypto.b64encode(receipt_key)}",
            id=created["id"],
            expires_at=created["expires_at"],
        )

    def _request_keys(self, link: Link, passphrase: Callable[[], str] | str | None
                      ) -> crypto.Keys:
        key = link.key()
        kdf = _metadata(self._call("GET", f"/api/v1/requests/{link.id}"))["kdf"]
        if kdf is not None:
            passphrase = passphrase() if callable(passphrase) else passphrase
            if not passphrase:
                raise ClientError("this request needs a passphrase")
        return crypto.derive_keys(key, passphrase if kdf else None, kdf)

    def answer(self, link: Link, message: crypto.Message,
               passphrase: Callable[[], str] | str | None = None) -> crypto.Message:
        """Answer a request: encrypt to the requester and post; return the request's note.

        Raises AlreadyAnswered if someone else answered first.
        """
        keys = self._request_keys(link, passphrase)
        proofs = {"link_proof": crypto.b64encode(keys.link_proof),
                  "access_proof": crypto.b64encode(keys.access_proof)}
        opened = _object(self._call("POST", f"/api/v1/requests/{link.id}/open", json=proofs),
                         "request")
        try:
            note = crypto.unpack(crypto.unseal(keys.content_key,
                                               crypto.b64decode(str(opened.get("note")))))
        except (ValueError, DecryptionFailed):
            raise ClientError(DecryptionFailed.__doc__.strip()) from None
        blob = crypto.seal_reply(_public_key(opened.get("public_key")), crypto.pack(message))
        posted = _object(self._call("POST", f"/api/v1/requests/{link.id}/answer",
                                    json={**proofs, "ciphertext": crypto.b64encode(blob)}),
                         "answer")
        if posted.get("number") != 1:
            raise Malformed("the answer's number is not 1")
        return note

    def read_answer(self, link: Link) -> crypto.Message:
        """Read (and so burn) the answer to a request, from its answer link."""
        receipt = self.receipt(link)
        if receipt.get("kind") != "request":
            raise ClientError("this link is not a request's answer link")
        if receipt["state"] == "waiting":
            raise ClientError("no answer yet: the request is still waiting")
        replies = self.read_replies(link)
        if not replies:
            raise Gone()
        return replies[0][1]

    def metadata(self, secret_id: str) -> dict:
        """A secret's public metadata (changes nothing), its shape checked."""
        return _metadata(self._call("GET", f"/api/v1/secrets/{secret_id}"))

    def read(self, link: Link, passphrase: Callable[[], str] | str | None = None
             ) -> tuple[crypto.Message, int]:
        """Reveal and decrypt; ``passphrase`` may be a callable asked only when needed."""
        key = link.key()
        kdf = self.metadata(link.id)["kdf"]
        if kdf is not None:
            passphrase = passphrase() if callable(passphrase) else passphrase
            if not passphrase:
                raise ClientError("this message needs a passphrase")
        keys = crypto.derive_keys(key, passphrase if kdf else None, kdf)
        body = {"link_proof": crypto.b64encode(keys.link_proof),
                "access_proof": crypto.b64encode(keys.access_proof)}
        revealed = _revealed(self._call("POST", f"/api/v1/secrets/{link.id}/reveal",
                                        limit=self.reveal_limit, json=body))
        try:
            blob = crypto.b64decode_large(revealed["ciphertext"])
            return crypto.unpack(crypto.unseal(keys.content_key, blob)), revealed["views_left"]
        except (ValueError, DecryptionFailed):
            raise ClientError(DecryptionFailed.__doc__.strip()) from None

    def receipt(self, link: Link) -> dict:
        """The sender's receipt, its shape checked."""
        return self._tagged_receipt(link)[0]

    def _tagged_receipt(self, link: Link, tag: str = "", timeout: float | None = None
                        ) -> tuple[dict | None, str]:
        """The receipt and its ETag; None for the receipt if it is unchanged since ``tag``."""
        headers = {"Authorization": f"Bearer {link.token()}"}
        if tag:
            headers["If-None-Match"] = tag
        status, new_tag, body = self._answer("GET", f"/api/v1/secrets/{link.id}/receipt",
                                             headers=headers, timeout=timeout)
        if status == 304:
            if not tag:
                raise Malformed("304 Not Modified to a request that was not conditional")
            return None, tag
        # A tag we cannot send back verbatim is no tag: then every poll is a full answer.
        return _receipt(_json(body)), new_tag if ETAG.fullmatch(new_tag) else ""

    def watch(self, link: Link, timeout: float | None = None, interval: float = POLL_FIRST,
              seen: Callable[[dict], None] | None = None) -> tuple[dict, str]:
        """Wait until the receipt changes; return it and why the wait ended.

        The reason is "changed", "final" (nothing could change any more, so no
        wait at all) or "timeout" (the receipt as it was). Each poll asks with
        If-None-Match, so an unchanged receipt costs a body-less 304; the pause
        grows from ``interval`` to POLL_MAX seconds, and a 429 or 503 or a broken
        connection is tried again (after its Retry-After) up to RETRIES times in a row.
        ``seen`` is given the receipt as the wait begins.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        first, tag = self._tagged_receipt(link, timeout=_within(self.timeout, deadline))
        if is_final(first):
            return first, "final"
        if seen is not None:
            seen(first)
        pause, failures = interval, 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= pause:
                time.sleep(max(left, 0))
                return first, "timeout"
            time.sleep(pause)
            try:
                now, tag = self._tagged_receipt(link, tag, _within(self.timeout, deadline))
            except (Busy, Unreachable) as exc:
                failures += 1
                if failures > RETRIES:
                    raise
                wait = min(getattr(exc, "retry_after", 0), MAX_RETRY_AFTER)
                pause = max(min(pause * POLL_GROWTH, POLL_MAX), wait)
                continue
            failures = 0
            if now is not None and now != first:
                return now, "changed"
            pause = min(pause * POLL_GROWTH, POLL_MAX)

    def burn(self, link: Link) -> None:
        """Burn a secret early."""
        auth = {"Authorization": f"Bearer {link.token()}"}
        self._call("DELETE", f"/api/v1/secrets/{link.id}", headers=auth)

    def reply(self, link: Link, message: crypto.Message) -> int:
        """Encrypt a reply to the sender of the message a link names; return its number."""
        proof = {"link_proof": crypto.b64encode(crypto.derive_keys(link.key()).link_proof)}
        try:
            found = _object(self._call("POST", f"/api/v1/secrets/{link.id}/reply-key",
                                       json=proof), "reply key")
        except Gone:
            raise ClientError(NO_REPLY) from None
        if not _is_count(found.get("replies_left")):
            raise Malformed("replies_left is not a count")
        if found["replies_left"] < 1:
            raise ClientError("no reply is left to send: one reply per view of the message")
        try:
            blob = crypto.seal_reply(_public_key(found.get("public_key")),
                                     crypto.pack(message))
        except DecryptionFailed:
            raise Malformed("public_key is not a P-256 key") from None
        body = {**proof, "ciphertext": crypto.b64encode(blob)}
        try:
            posted = _object(self._call("POST", f"/api/v1/secrets/{link.id}/replies", json=body),
                             "reply")
        except Gone:
            raise ClientError(NO_REPLY) from None
        if not _is_count(posted.get("number")):
            raise Malformed("number is not a count")
        return posted["number"]

    def read_replies(self, link: Link) -> list[tuple[int, crypto.Message]]:
        """Read (and so burn) every unread reply a receipt link's message received."""
        receipt_key = link.receipt_key()
        receipt = self.receipt(link)
        reply_key = receipt.get("reply_key")
        if reply_key is None:
            raise ClientError("this message was sent without replies")
        if not isinstance(reply_key, dict) or not isinstance(receipt.get("replies"), list):
            raise Malformed("reply_key or replies")
        public_key = _public_key(reply_key.get("public_key"))
        try:
            scalar = crypto.unwrap_reply_key(
                receipt_key, crypto.b64decode(str(reply_key.get("wrapped_private_key"))))
        except (ValueError, DecryptionFailed):
            raise ClientError("the receipt link is damaged: its reply key does not fit") from None
        auth = {"Authorization": f"Bearer {link.token()}"}
        replies = []
        for reply in receipt["replies"]:
            if not isinstance(reply, dict) or not _is_count(reply.get("number")):
                raise Malformed("a reply without a number")
            if reply.get("read_at") is not None:
                continue
            path = f"/api/v1/secrets/{link.id}/replies/{reply['number']}/reveal"
            try:
                revealed = _object(self._call("POST", path, limit=self.reveal_limit,
                                              headers=auth), "reply")
            except Gone:
                continue  # read meanwhile, elsewhere: it burned there
            try:
                blob = crypto.b64decode_large(str(revealed.get("ciphertext")))
                message = crypto.unpack(crypto.open_reply(scalar, public_key, bytes(blob)))
            except (ValueError, DecryptionFailed):
                raise ClientError(DecryptionFailed.__doc__.strip()) from None
            replies.append((reply["number"], message))
        return replies


def is_final(receipt: dict) -> bool:
    """Nothing can change any more: the message (or request) is over and no reply can come."""
    if receipt["state"] in {"waiting", "answered"}:
        return False
    # A request ends with its answer read, burned or expired; a message's
    # readers may still reply after it is gone, while they have grants.
    if receipt.get("kind") == "request" or receipt.get("reply_key") is None:
        return True
    if not _is_count(receipt.get("replies_left")):
        raise Malformed("replies_left is not a count")
    return receipt["replies_left"] == 0


def _within(limit: float, deadline: float | None) -> float:
    """A request's time limit that ends by the deadline (a second at least)."""
    return limit if deadline is None else max(min(limit, deadline - time.monotonic()), 1.0)


def _read_body(response: requests.Response, limit: int, deadline: float) -> bytes:
    """The whole body, refused as soon as it is redirected, encoded or too large."""
    if response.status_code == 304:
        return b""  # Not Modified: a conditional request's answer has no body
    if response.is_redirect or 300 <= response.status_code < 400:
        where = printable(response.headers.get("Location", "elsewhere"))[:200]
        raise ClientError(f"the server answered with a redirect to {where}: not followed")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in {"", "identity"}:
        raise ClientError(f"the server's answer has an encoding we did not ask for: "
                          f"{printable(encoding)[:40]}")
    announced = response.headers.get("Content-Length", "0")
    if not announced.isdigit() or int(announced) > limit:
        raise ClientError(f"the server's answer is too large (over {limit} bytes)")
    body = bytearray()
    for chunk in response.iter_content(65536):
        body += chunk
        if len(body) > limit:
            raise ClientError(f"the server's answer is too large (over {limit} bytes)")
        if time.monotonic() > deadline:
            break  # the caller has given up already
    return bytes(body)


def _hang_up(response: requests.Response | None) -> None:
    """Shut the socket of an answer being read, so the abandoned thread ends too."""
    sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(2)  # SHUT_RDWR wakes a recv blocked in another thread
        except OSError:
            pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json(body: bytes) -> object:
    """Strict JSON: no NaN, no duplicate keys, no nesting deep enough to crash the parser."""
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ClientError("the server's answer is not valid JSON") from None


def _is_count(value: object, high: int = 1_000_000) -> bool:
    return type(value) is int and 0 <= value <= high


def _is_time(value: object) -> bool:
    return isinstance(value, str) and TIMESTAMP.fullmatch(value) is not None


def _object(document: object, what: str) -> dict:
    if not isinstance(document, dict):
        raise Malformed(f"{what} is not a JSON object")
    return document


def _kdf(value: object) -> crypto.Kdf | None:
    """The stretching parameters, within the bounds the server itself enforces."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"name", "salt", "iterations"} \
            or value["name"] != crypto.KDF_NAME:
        raise Malformed("kdf is not {name, salt, iterations} of PBKDF2-HMAC-SHA256")
    iterations = value["iterations"]
    if type(iterations) is not int or not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise Malformed(f"kdf iterations must lie between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    try:
        salt = crypto.b64decode(value["salt"])
    except ValueError:
        salt = b""
    if not 16 <= len(salt) <= 64:
        raise Malformed("kdf salt must be 16 to 64 bytes of base64url")
    return crypto.Kdf(salt, iterations)


def _metadata(document: object) -> dict:
    meta = _object(document, "metadata")
    if not isinstance(meta.get("passphrase"), bool):
        raise Malformed("passphrase is not true or false")
    kdf = _kdf(meta.get("kdf"))
    if meta["passphrase"] != (kdf is not None):
        raise Malformed("passphrase and kdf disagree")
    return {**meta, "kdf": kdf}


def _revealed(document: object) -> dict:
    revealed = _object(document, "reveal")
    if not isinstance(revealed.get("ciphertext"), str):
        raise Malformed("no ciphertext")
    if not _is_count(revealed.get("views_left")):
        raise Malformed("views_left is not a count")
    return revealed


def _link_to(url: object, kind: str, secret_id: str) -> bool:
    if not isinstance(url, str) or not re.fullmatch(r"[\x21-\x7e]{1,2000}", url):
        return False
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc) \
        and parts.path.endswith(f"/{kind}/{secret_id}") and not parts.query \
        and not parts.fragment


def _id_and_token(document: object, action: str) -> tuple[dict, str]:
    """The created object with a well-formed id and manage token; Malformed otherwise."""
    created = _object(document, action)
    secret_id = created.get("id")
    if not isinstance(secret_id, str) or not ID.fullmatch(secret_id):
        raise Malformed("id is not a mayfly id")
    token = created.get("manage_token")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise Malformed("manage_token is not a token")
    return created, secret_id


def _created(document: object) -> dict:
    created, secret_id = _id_and_token(document, "create")
    if not _link_to(created.get("url"), "s", secret_id) \
            or not _link_to(created.get("receipt_url"), "r", secret_id):
        raise Malformed("url or receipt_url is not a link to the new message")
    if not _is_time(created.get("expires_at")) or not _is_count(created.get("views_left")):
        raise Malformed("expires_at or views_left")
    return created


def _request_created(document: object) -> dict:
    created, secret_id = _id_and_token(document, "request")
    if not _link_to(created.get("url"), "q", secret_id) \
            or not _link_to(created.get("answer_url"), "a", secret_id):
        raise Malformed("url or answer_url is not a link to the new request")
    if not _is_time(created.get("expires_at")):
        raise Malformed("expires_at is not a time")
    return created


def _public_key(value: object) -> bytes:
    """A P-256 public key the server sent, as bytes; Malformed unless it is one."""
    try:
        key = crypto.b64decode(value) if isinstance(value, str) else b""
    except ValueError:
        key = b""
    if not crypto.is_public_key(key):
        raise Malformed("public_key is not a P-256 key")
    return key


def _receipt(document: object) -> dict:
    receipt = _object(document, "receipt")
    if receipt.get("state") not in STATES:
        raise Malformed("unknown state")
    if not _is_count(receipt.get("max_views")) or not _is_count(receipt.get("views_left")):
        raise Malformed("max_views or views_left is not a count")
    needed = {"waiting": "expires_at", "answered": "expires_at", "expired": "expires_at",
              "read": "ended_at" if receipt.get("kind") == "request" else "last_read_at",
              "burned": "ended_at", "failed": "ended_at"}[receipt["state"]]
    for name in ("created_at", "expires_at", "first_read_at", "last_read_at", "ended_at"):
        value = receipt.get(name)
        if not _is_time(value) and (value is not None or name == needed):
            raise Malformed(f"{name} is not a time")
    return receipt


def printable(text: str) -> str:
    """Text from elsewhere, safe on one line of a terminal: control characters escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def _problem_error(status: int, body: bytes, retry_after: str = "") -> ClientError:
    """Turn an error answer (problem+json or anything else) into a one-line ClientError."""
    try:
        problem = _json(body)
    except ClientError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    if status == 404:
        return Gone()
    kind = problem.get("type")
    if status == 409 and isinstance(kind, str) and kind.endswith("/already-answered"):
        return AlreadyAnswered()
    if isinstance(kind, str) and kind.endswith("/wrong-passphrase"):
        left = problem.get("attempts_left")
        return WrongPassphrase(left if _is_count(left, 100) else 0)
    seconds = int(retry_after) if retry_after.isdigit() and len(retry_after) < 9 else 0
    if status == 429:
        wait = f"in {seconds} seconds" if seconds else "later"
        return Busy(f"too many requests: try again {wait}", seconds)
    if status == 503:
        return Busy(f"the server is unavailable (503): {_detail(problem)}", seconds)
    return ClientError(f"the server refused ({status}): {_detail(problem)}")


def _detail(problem: dict) -> str:
    """A problem's reason, printable and at most 300 characters."""
    detail = next((value for value in (problem.get("detail"), problem.get("title"))
                   if isinstance(value, str) and value), "no reason given")
    return printable(detail)[:300]
