"""The rules of a secret: ids, lifetimes, views, attempts, proofs and tokens.

No HTTP and no SQL here: the API feeds this module decoded JSON and the
storage backend only stores and takes atomically. (Named rules, not secrets,
so that it never shadows the standard library's ``secrets`` used below.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import crypto
from .config import Settings
from .errors import (
    AlreadyAnswered,
    Forbidden,
    InvalidInput,
    NoRepliesLeft,
    PayloadTooLarge,
    SecretGone,
    Unauthorized,
    WrongPassphrase,
)
from .notices.config import valid_address
from .storage.base import Live, NewRecord, Purged, Receipt, ReplyKey, Storage, Taken

ID_BYTES = 18  # 144 random bits, 24 base64url characters
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{24}")
TOKEN_BYTES = 32
MIN_ITERATIONS = crypto.PBKDF2_ITERATIONS
MAX_ITERATIONS = 10_000_000
# Version byte, nonce and GCM tag: nothing shorter can be a sealed message.
MIN_CIPHERTEXT = 1 + crypto.NONCE_BYTES + 16
# A reply: the replier's ephemeral public key, then a sealed envelope.
MIN_REPLY_CIPHERTEXT = crypto.PUBLIC_KEY_BYTES + MIN_CIPHERTEXT
WRAPPED_KEY_BYTES = MIN_CIPHERTEXT + crypto.PRIVATE_KEY_BYTES
CREATE_FIELDS = {"ciphertext", "link_proof_hash", "access_proof_hash", "kdf", "expires_in",
                 "max_views", "reply_key", "notify_email"}
REVEAL_FIELDS = {"link_proof", "access_proof"}
WRONG_LINK = "the link proof does not match: is the link complete?"
# Compared with when there is no receipt, so that a missing id costs what a wrong token does.
_NO_RECEIPT = bytes(32)
REPLY_KEY_FIELDS = {"public_key", "wrapped_private_key"}
REPLY_FIELDS = {"link_proof", "ciphertext"}
REQUEST_FIELDS = CREATE_FIELDS - {"max_views"}
ANSWER_FIELDS = REVEAL_FIELDS | {"ciphertext"}


@dataclass(frozen=True)
class NewSecret:
    """A validated creation request."""

    ciphertext: bytes | bytearray  # bytes-like: a 10 MiB value is not copied again
    link_proof_hash: bytes | bytearray
    access_proof_hash: bytes | bytearray
    kdf: dict | None
    expires_in: int
    max_views: int
    reply_key: ReplyKey | None = None
    notify_email: str | None = None


@dataclass(frozen=True)
class Created:
    """What the sender gets back."""

    id: str
    expires_at: float
    views_left: int
    manage_token: str


def _int(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if type(value) is not int:  # bool is an int subclass, and not a count
        raise InvalidInput(f"{name} must be an integer", field=name)
    if not low <= value <= high:
        raise InvalidInput(f"{name} must lie between {low} and {high}", field=name)
    return value


def _bytes(body: dict, name: str, size: int | None = None) -> bytes | bytearray:
    value = body.get(name)
    # A memoryview is a long value left as the body's bytes (bodies.parse_json).
    if not isinstance(value, str | memoryview):
        raise InvalidInput(f"{name} is required, as a base64url string", field=name)
    try:
        data = crypto.b64decode_large(value)
    except ValueError:
        raise InvalidInput(f"{name} is not unpadded base64url", field=name) from None
    if size is not None and len(data) != size:
        raise InvalidInput(f"{name} must decode to {size} bytes", field=name)
    return data


def _kdf(value: object) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"name", "salt", "iterations"}:
        raise InvalidInput("kdf must be null or {name, salt, iterations}", field="kdf")
    if value["name"] != crypto.KDF_NAME:
        raise InvalidInput(f"kdf.name must be {crypto.KDF_NAME}", field="kdf")
    salt = _bytes(value, "salt")
    if not 16 <= len(salt) <= 64:
        raise InvalidInput("kdf.salt must decode to 16 to 64 bytes", field="kdf")
    _int(value, "iterations", 0, MIN_ITERATIONS, MAX_ITERATIONS)
    return dict(value)


def only_fields(body: object, allowed: set[str]) -> dict:
    """Refuse anything but a JSON object with known fields."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return body


def _reply_key(value: object) -> ReplyKey | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != REPLY_KEY_FIELDS:
        raise InvalidInput("reply_key must be null or {public_key, wrapped_private_key}",
                           field="reply_key")
    public_key = bytes(_bytes(value, "public_key", crypto.PUBLIC_KEY_BYTES))
    if not crypto.is_public_key(public_key):
        raise InvalidInput("reply_key.public_key is not a P-256 point", field="reply_key")
    wrapped = bytes(_bytes(value, "wrapped_private_key", WRAPPED_KEY_BYTES))
    if wrapped[:1] != crypto.ENVELOPE_VERSION:
        raise InvalidInput("reply_key.wrapped_private_key is not a mayfly v1 envelope",
                           field="reply_key")
    return ReplyKey(public_key, wrapped)


def _ciphertext(body: dict, settings: Settings, shortest: int, prefix: bytes) -> bytearray:
    ciphertext = _bytes(body, "ciphertext")
    if len(ciphertext) > settings.max_ciphertext_bytes:
        limit = settings.max_ciphertext_bytes
        raise PayloadTooLarge(f"the ciphertext may be at most {limit} bytes")
    if len(ciphertext) < shortest or not ciphertext.startswith(prefix) \
            or ciphertext[shortest - MIN_CIPHERTEXT] != crypto.ENVELOPE_VERSION[0]:
        raise InvalidInput("ciphertext is not a mayfly v1 envelope", field="ciphertext")
    return ciphertext


def _notify_email(value: object, settings: Settings) -> str | None:
    if value is None:
        return None
    if not settings.email_notices:
        raise InvalidInput("this server sends no email notices (it has no SMTP server)",
                           field="notify_email")
    if not isinstance(value, str) or not valid_address(value):
        # The value is not repeated: it may be someone's address.
        raise InvalidInput("notify_email must be null or a plain email address",
                           field="notify_email")
    return value


def parse_new_secret(body: object, settings: Settings) -> NewSecret:
    """Validate a creation request top to bottom; the first problem is raised."""
    body = only_fields(body, CREATE_FIELDS)
    ciphertext = _ciphertext(body, settings, MIN_CIPHERTEXT, crypto.ENVELOPE_VERSION)
    return NewSecret(
        ciphertext=ciphertext,
        link_proof_hash=_bytes(body, "link_proof_hash", 32),
        access_proof_hash=_bytes(body, "access_proof_hash", 32),
        kdf=_kdf(body.get("kdf")),
        expires_in=_int(body, "expires_in", settings.default_lifetime, settings.min_lifetime,
                        settings.max_lifetime),
        max_views=_int(body, "max_views", 1, 1, settings.max_views),
        reply_key=_reply_key(body.get("reply_key")),
        notify_email=_notify_email(body.get("notify_email"), settings),
    )


def parse_new_request(body: object, settings: Settings) -> NewSecret:
    """Validate a request for a secret: a secret's fields, the reply key required."""
    body = only_fields(body, REQUEST_FIELDS)
    if body.get("reply_key") is None:
        raise InvalidInput("reply_key is required: the answer is encrypted to it",
                           field="reply_key")
    return parse_new_secret(body, settings)


def parse_answer(body: object, settings: Settings) -> tuple[bytes, bytes, bytearray]:
    """Validate an answer to a request: both proofs and the answer's ciphertext."""
    body = only_fields(body, ANSWER_FIELDS)
    ciphertext = _ciphertext(body, settings, MIN_REPLY_CIPHERTEXT, b"\x04")
    return (bytes(_bytes(body, "link_proof", 32)), bytes(_bytes(body, "access_proof", 32)),
            ciphertext)


def parse_reveal(body: object) -> tuple[bytes, bytes]:
    """Validate a reveal request: the two 32-byte proofs."""
    body = only_fields(body, REVEAL_FIELDS)
    return _bytes(body, "link_proof", 32), _bytes(body, "access_proof", 32)


def parse_reply(body: object, settings: Settings) -> tuple[bytes, bytearray]:
    """Validate a reply: the link proof and the reply's ciphertext."""
    body = only_fields(body, REPLY_FIELDS)
    ciphertext = _ciphertext(body, settings, MIN_REPLY_CIPHERTEXT, b"\x04")
    return bytes(_bytes(body, "link_proof", 32)), ciphertext


def parse_link_proof(body: object) -> bytes:
    """Validate a request that carries only the link proof."""
    return bytes(_bytes(only_fields(body, {"link_proof"}), "link_proof", 32))


def _digest(value: bytes | str) -> bytes:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).digest()


def _id_and_token() -> tuple[str, str]:
    """A new id and manage token (as token_urlsafe spells them), from one read of randomness."""
    random = secrets.token_bytes(ID_BYTES + TOKEN_BYTES)
    return crypto.b64encode(random[:ID_BYTES]), crypto.b64encode(random[ID_BYTES:])


def valid_id(secret_id: str) -> bool:
    """Whether a string has the shape of an id (anything else is simply not found)."""
    return ID_PATTERN.fullmatch(secret_id) is not None


def as_of(receipt: Receipt, now: float) -> Receipt:
    """The receipt as the sender sees it: expired once its lifetime ends, purged or not.

    A request whose answer came and waits to be read says ``answered``.
    """
    if receipt.state == "waiting" and receipt.expires_at <= now:
        return replace(receipt, state="expired", ended_at=receipt.expires_at)
    if receipt.state == "waiting" and receipt.kind == "request" and receipt.replies:
        return replace(receipt, state="answered")
    return receipt


@dataclass(frozen=True)
class OpenedRequest:
    """What whoever holds a request link gets: the note and the key to answer to."""

    note: bytes
    public_key: bytes
    expires_at: float


class Rules:
    """The service's behaviour over any Storage; one instance per application."""

    def __init__(self, storage: Storage, settings: Settings,
                 clock: Callable[[], float] = time.time, writes_purge: bool = True):
        self.storage = storage
        self.settings = settings
        self.clock = clock
        # False where another process (the notices mule) purges now and then.
        self.writes_purge = writes_purge
        self._last_purge = 0.0

    def create(self, new: NewSecret, kind: str = "secret", language: str = "en") -> Created:
        """Store a new secret (or request) under a fresh id; return the id and manage token.

        ``language`` is the sender's page language, for their notices.
        """
        now = self.clock()
        secret_id, token = _id_and_token()
        record = NewRecord(
            id=secret_id,
            ciphertext=new.ciphertext,
            link_hash=new.link_proof_hash,
            access_hash=new.access_proof_hash,
            kdf=new.kdf,
            manage_hash=_digest(token),
            created_at=now,
            expires_at=now + new.expires_in,
            keep_until=now + new.expires_in + self.settings.receipt_retention,
            max_views=new.max_views,
            reply_key=new.reply_key,
            kind=kind,
            notify_address=new.notify_email,
            notify_language=language if new.notify_email else None,
        )
        self.storage.create(record)
        if self.writes_purge:
            self.purge_now_and_then(now)
        return Created(record.id, record.expires_at, record.max_views, token)

    def metadata(self, secret_id: str, kind: str = "secret") -> Live:
        """Return a live secret's (or request's) metadata; never changes anything."""
        live = valid_id(secret_id) and self.storage.lookup(secret_id, self.clock())
        if not live or live.kind != kind:
            raise SecretGone()
        return live

    @staticmethod
    def _check_link(live: Live, link_proof: bytes) -> None:
        # A wrong link proof means the caller lacks the link: nothing is counted.
        if not hmac.compare_digest(crypto.proof_hash(link_proof), live.link_hash):
            raise Forbidden(WRONG_LINK)

    def _check_access(self, live: Live, access_proof: bytes) -> None:
        """The passphrase's proof; a wrong one counts an attempt (and may burn)."""
        if not hmac.compare_digest(crypto.proof_hash(access_proof), live.access_hash):
            left = self.storage.fail(live.id, self.clock(), self.settings.max_attempts)
            if left is None:
                raise SecretGone()
            raise WrongPassphrase(attempts_left=left)

    def reveal(self, secret_id: str, link_proof: bytes, access_proof: bytes) -> Taken:
        """Check both proofs, then use up one view atomically."""
        revealed = valid_id(secret_id) and self.storage.reveal(
            secret_id, self.clock(), crypto.proof_hash(link_proof),
            crypto.proof_hash(access_proof), self.settings.max_attempts)
        if not revealed:
            raise SecretGone()
        if revealed.wrong_link:
            raise Forbidden(WRONG_LINK)
        if revealed.attempts_left is not None:
            raise WrongPassphrase(attempts_left=revealed.attempts_left)
        return revealed.taken

    def _reply_receipt(self, secret_id: str, link_proof: bytes) -> Receipt:
        """The receipt of a secret that accepts replies, given the reader's link proof."""
        receipt = valid_id(secret_id) and self.storage.receipt(secret_id, self.clock())
        if not receipt or receipt.reply_hash is None or receipt.kind != "secret":
            raise SecretGone()
        if not hmac.compare_digest(crypto.proof_hash(link_proof), receipt.reply_hash):
            raise Forbidden(WRONG_LINK)
        return receipt

    def reply_key(self, secret_id: str, link_proof: bytes) -> Receipt:
        """What a reader needs to reply: the sender's public key and the replies left."""
        return self._reply_receipt(secret_id, link_proof)

    def post_reply(self, secret_id: str, link_proof: bytes, ciphertext: bytes) -> int:
        """Store a reply to the sender, one per view; return its number."""
        self._reply_receipt(secret_id, link_proof)
        number = self.storage.post_reply(secret_id, ciphertext, self.clock())
        if number is None:
            raise SecretGone()
        if number == 0:
            raise NoRepliesLeft()
        return number

    def _unanswered_request(self, request_id: str, link_proof: bytes,
                            access_proof: bytes) -> Live:
        """A live request not yet answered, given both proofs of its link.

        "Already answered" is told only to a holder of the link, and before the
        passphrase is checked: once answered, no wrong guess can burn the answer.
        """
        live = self.metadata(request_id, kind="request")
        self._check_link(live, link_proof)
        receipt = self.storage.receipt(request_id, self.clock())
        if receipt is None:
            raise SecretGone()
        if receipt.replies:
            raise AlreadyAnswered()
        self._check_access(live, access_proof)
        return live

    def open_request(self, request_id: str, link_proof: bytes,
                     access_proof: bytes) -> OpenedRequest:
        """The note and the requester's public key; opening spends nothing."""
        live = self._unanswered_request(request_id, link_proof, access_proof)
        note = self.storage.peek(request_id, self.clock())
        if note is None:
            raise SecretGone()
        return OpenedRequest(note, live.reply_public_key, live.expires_at)

    def answer(self, request_id: str, link_proof: bytes, access_proof: bytes,
               ciphertext: bytes) -> int:
        """Store the one answer to a request; of answerers at once, one wins, the rest 409."""
        self._unanswered_request(request_id, link_proof, access_proof)
        number = self.storage.post_reply(request_id, ciphertext, self.clock())
        if number is None:
            raise SecretGone()
        if number == 0:
            raise AlreadyAnswered()
        return number

    def take_reply(self, secret_id: str, number: int, token: str | None) -> bytes:
        """Hand a reply to the sender once, given the manage token; then it is gone."""
        self._authorised_receipt(secret_id, token)
        ciphertext = self.storage.take_reply(secret_id, number, self.clock())
        if ciphertext is None:
            raise SecretGone()
        return ciphertext

    def _authorised_receipt(self, secret_id: str, token: str | None) -> Receipt:
        """The receipt, if the token is its own; anything else looks like a missing id.

        A wrong token once answered 403 for an id that existed and 404 for one
        that never did: an oracle for which ids were used. Both are now the one
        404, after the same work (a hash and a comparison either way).
        """
        if not token:
            raise Unauthorized()
        presented = _digest(token)
        receipt = valid_id(secret_id) and self.storage.receipt(secret_id, self.clock())
        expected = receipt.manage_hash if receipt else _NO_RECEIPT
        if not hmac.compare_digest(presented, expected) or not receipt:
            raise SecretGone()
        return as_of(receipt, self.clock())

    def receipt(self, secret_id: str, token: str | None) -> Receipt:
        """Return the sender's receipt, given the manage token."""
        return self._authorised_receipt(secret_id, token)

    def burn(self, secret_id: str, token: str | None) -> Receipt:
        """Destroy a secret early at its sender's request; return the new receipt."""
        self._authorised_receipt(secret_id, token)
        self.storage.burn(secret_id, self.clock())
        return self._authorised_receipt(secret_id, token)

    def purge(self) -> Purged:
        """Remove what expired, now."""
        self._last_purge = now = self.clock()
        return self.storage.purge(now)

    def purge_now_and_then(self, now: float) -> None:
        """A cheap purge piggy-backed on writes, at most once per purge_interval."""
        interval = self.settings.purge_interval
        if interval and now - self._last_purge >= interval:
            self.purge()
