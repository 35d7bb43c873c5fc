"""The Storage contract that every backend honours.

A backend only stores, takes atomically and forgets what expired; the rules
(lifetimes, view counts, attempt limits, ids, proofs) live in mayfly.rules.

Contract, for every method taking ``now`` (seconds since the epoch):

* A secret is *live* while its state is ``waiting`` and ``now < expires_at``.
  Anything not live is treated as absent by ``lookup``, ``take``, ``fail``
  and ``burn``, whether or not a purge has removed it yet.
* ``take`` is one atomic step across processes and machines: of any number of
  concurrent callers, at most ``views_left`` get the ciphertext. The step that
  hands out the last view removes the ciphertext in the same step, and the
  change is durable (as the backend documents) before the method returns.
* ``reveal`` is what the rules do to reveal a secret, given the SHA-256 of the
  presented proofs: a look-up (a request is not revealed), the link proof's
  check (a mismatch counts nothing), the access proof's (a mismatch is a
  ``fail``), then a ``take``. The base class does it in these steps, each
  atomic; a backend that can do it all in one atomic step overrides it
  (Redis: one script, one round trip; SQLite: one write transaction). Digests
  are compared in constant time.
* ``fail`` counts one failed attempt atomically and, on reaching
  ``max_attempts``, burns the secret in the same step.
* ``take``, ``fail``, ``burn`` and ``purge`` update the receipt and the
  counters in the same atomic step as the change they record.
* A receipt keeps only states and times (never ciphertext or proof hashes
  once the secret is gone) and disappears at ``keep_until``. Its state is
  what was stored: a secret past ``expires_at`` says ``waiting`` until a
  purge marks it ``expired`` (the rules report it expired from the times).
  The exception is a secret that accepts replies: its receipt keeps the reply
  key (public key, wrapped private key) and the link proof hash that
  authorises a reply, until ``keep_until``.
* Replies. ``take`` of a secret with a reply key grants one more reply in the
  same step (one reply per view). ``post_reply`` uses one grant and stores the
  reply atomically; ``take_reply`` hands a reply's ciphertext out at most once
  and removes it in the same step. Replies disappear with their receipt.
* Once a secret ends (read, burned, failed, expired and purged), its
  ciphertext must leave the backend's files within a bounded time, not
  only its tables: the backend scrubs by itself what it can do cheaply off
  the request path (SQLite: a checkpoint about a second later), and
  ``scrub`` (run by ``mayfly purge``) does the rest, however long it takes.
* Notices (issue #12). A secret may carry a sender's address for notices
  (``notify_address``, ``notify_language``). ``take``, ``fail`` (when it
  burns), ``burn`` and ``purge`` (for each secret it marks expired) queue
  the notices of their change in the same atomic step as the change: an
  ``email`` notice when the secret has an address (for a view, a burn by
  attempts, an expiry with no view), a ``webhook`` event for every change
  when ``webhook_events`` is set. The address leaves the secret when the
  secret ends, and the notice when it is delivered or dropped: not with its
  receipt, which may end in the very purge that queued the notice (with no
  receipt retention). The worker drops a notice still undelivered
  ``NOTICE_GIVE_UP`` seconds after it was queued; SQLite's ``purge`` drops
  such notices too, for when no worker runs any more. A change that queues
  nothing writes nothing more than before.
  ``claim_notices`` hands due notices out under a lease (until ``lease_until``;
  after that another worker may claim them again), so a killed worker loses
  nothing: delivery is at least once, each notice with its event id.
* Backend failures are raised as ``StorageUnavailable``, never as the
  driver's own exception, and leave nothing half-written.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace

# Counter names, exported by /metrics as mayfly_<name>_total.
COUNTERS = (
    "secrets_created",
    "views_revealed",
    "secrets_read",
    "secrets_expired_unread",
    "secrets_burned_by_sender",
    "secrets_burned_by_attempts",
    "failed_attempts",
    "replies_posted",
    "replies_read",
    "requests_created",
    "requests_answered",
    "answers_read",
    "notices_sent",
    "notices_dropped",
)
# A notice not delivered this many seconds after it was queued is dropped.
NOTICE_GIVE_UP = 86_400
# The notices' ways out; a queued notice goes out by exactly one.
CHANNELS = ("email", "webhook")


@dataclass(frozen=True)
class ReplyKey:
    """What lets a reader encrypt to the sender, and the sender alone decrypt."""

    public_key: bytes  # P-256 point, in the clear
    wrapped_key: bytes  # the private key, sealed under a key only the receipt link holds


@dataclass(frozen=True)
class NewRecord:
    """Everything stored when a secret is created."""

    id: str
    ciphertext: bytes
    link_hash: bytes
    access_hash: bytes
    kdf: dict | None
    manage_hash: bytes
    created_at: float
    expires_at: float
    keep_until: float
    max_views: int
    reply_key: ReplyKey | None = None
    kind: str = "secret"  # secret | request (its ciphertext is the note)
    notify_address: str | None = None  # the sender's, for notices; None: no email notices
    notify_language: str | None = None  # the sender's page language at creation


@dataclass(frozen=True)
class Notice:
    """One queued notice: what happened to which secret, for one channel."""

    key: str  # the queue entry: "<event_id>/<channel>"
    event_id: str  # "<secret id>:<what>", the same for every channel and every retry
    channel: str  # one of CHANNELS
    secret_id: str
    state: str  # the receipt's state after the change: waiting, read, failed, expired, burned
    at: float  # when it happened
    views_left: int
    created_at: float  # the secret's creation (a mail names the message by it)
    queued_at: float
    attempts: int  # delivery attempts begun, this claim's included
    address: str | None = None  # email notices only
    language: str | None = None


@dataclass(frozen=True)
class Live:
    """A live secret's metadata, without its ciphertext."""

    id: str
    link_hash: bytes
    access_hash: bytes
    kdf: dict | None
    expires_at: float
    max_views: int
    views_left: int
    failed_attempts: int
    reply_public_key: bytes | None = None
    kind: str = "secret"


@dataclass(frozen=True)
class Taken:
    """One view handed out by ``take``."""

    ciphertext: bytes
    views_left: int
    reply_public_key: bytes | None = None  # from the look-up (reveal), not from take


@dataclass(frozen=True)
class Revealed:
    """What a reveal of a live secret came to (``reveal`` returns None for one not live)."""

    taken: Taken | None = None  # both proofs matched: the view, with the reply key
    wrong_link: bool = False  # the link proof did not match: nothing was counted
    attempts_left: int | None = None  # the access proof did not: counted (0: burned)


@dataclass(frozen=True)
class Purged:
    """What one purge removed."""

    expired: int  # ciphertexts of secrets whose lifetime ended
    receipts: int  # receipts past their keep_until


@dataclass(frozen=True)
class Receipt:
    """What the sender may see: states and times only."""

    id: str
    manage_hash: bytes
    state: str  # waiting | read | burned | failed | expired
    created_at: float
    expires_at: float
    max_views: int
    views_left: int
    failed_attempts: int
    first_read_at: float | None
    last_read_at: float | None
    ended_at: float | None
    reply_key: ReplyKey | None = None
    reply_hash: bytes | None = None  # SHA-256 of the link proof, while replies may come
    replies_left: int = 0
    replies: tuple[ReplyInfo, ...] = ()
    kind: str = "secret"


@dataclass(frozen=True)
class ReplyInfo:
    """One reply as the receipt lists it: never its content."""

    number: int  # 1, 2, ... in the order posted
    created_at: float
    read_at: float | None


class Storage:
    """Base class of the backends; see the module docstring for the contract."""

    # Whether every change queues a webhook event (MAYFLY_WEBHOOK_URL is set).
    webhook_events: bool = False

    def create(self, record: NewRecord) -> None:
        """Store a new secret and its receipt."""
        raise NotImplementedError

    def lookup(self, secret_id: str, now: float) -> Live | None:
        """Return a live secret's metadata, or None. Never changes anything."""
        raise NotImplementedError

    def take(self, secret_id: str, now: float) -> Taken | None:
        """Atomically use up one view and return the ciphertext, or None if not live."""
        raise NotImplementedError

    def reveal(self, secret_id: str, now: float, link_hash: bytes, access_hash: bytes,
               max_attempts: int) -> Revealed | None:
        """Check the proofs' digests and take a view or count an attempt; None if not live."""
        return checked_reveal(self.lookup(secret_id, now), link_hash, access_hash,
                              lambda: self.fail(secret_id, now, max_attempts),
                              lambda: self.take(secret_id, now))

    def peek(self, secret_id: str, now: float) -> bytes | None:
        """Return a live request's note (its ciphertext), or None. Never changes anything."""
        raise NotImplementedError

    def fail(self, secret_id: str, now: float, max_attempts: int) -> int | None:
        """Atomically count a failed attempt; return attempts left (0: burned) or None."""
        raise NotImplementedError

    def burn(self, secret_id: str, now: float) -> bool:
        """Destroy a live secret at its sender's request; return whether one was live."""
        raise NotImplementedError

    def post_reply(self, secret_id: str, ciphertext: bytes, now: float) -> int | None:
        """Atomically use one reply grant and store the reply; return its number.

        None if the receipt is gone, 0 if no reply is left to post.
        """
        raise NotImplementedError

    def take_reply(self, secret_id: str, number: int, now: float) -> bytes | None:
        """Atomically hand out a reply's ciphertext once and delete it; None if gone."""
        raise NotImplementedError

    def receipt(self, secret_id: str, now: float) -> Receipt | None:
        """Return the receipt until its keep_until, or None."""
        raise NotImplementedError

    def purge(self, now: float) -> Purged:
        """Physically remove expired ciphertexts and old receipts (with their replies)."""
        raise NotImplementedError

    def scrub(self) -> str:
        """Wipe ended secrets from the backend's files now; say what was done. May be slow."""
        raise NotImplementedError

    def claim_notices(self, now: float, lease_until: float, limit: int) -> list[Notice]:
        """Claim up to ``limit`` due notices until ``lease_until``, counting an attempt each."""
        raise NotImplementedError

    def notice_done(self, notice: Notice, counter: str) -> None:
        """Remove a delivered (``notices_sent``) or dropped (``notices_dropped``) notice."""
        raise NotImplementedError

    def notice_retry(self, notice: Notice, at: float) -> None:
        """Make a claimed notice due again at ``at``."""
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        """Return every counter of COUNTERS (zero when never incremented)."""
        raise NotImplementedError

    def ping(self) -> None:
        """Raise StorageUnavailable unless the backend answers."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections held by this process."""


def checked_reveal(live: Live | None, link_hash: bytes, access_hash: bytes,
                   fail: Callable[[], int | None],
                   take: Callable[[], Taken | None]) -> Revealed | None:
    """A reveal's checks in order, then the one change they call for: ``fail`` or ``take``.

    The steps of Storage.reveal, shared by a backend that runs them in one
    transaction of its own (SQLite). Digests are compared in constant time.
    """
    if live is None or live.kind != "secret":
        return None
    if not hmac.compare_digest(link_hash, live.link_hash):
        return Revealed(wrong_link=True)
    if not hmac.compare_digest(access_hash, live.access_hash):
        left = fail()
        return None if left is None else Revealed(attempts_left=left)
    taken = take()
    if taken is None:
        return None
    return Revealed(taken=replace(taken, reply_public_key=live.reply_public_key))
