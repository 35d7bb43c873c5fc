"""The default backend: one SQLite file, safe across uWSGI worker processes.

Every change runs in a ``BEGIN IMMEDIATE`` transaction, which takes SQLite's
write lock before reading, so two workers can never both see the last view.
WAL mode lets readers (metadata GETs) proceed while a write holds the lock;
``synchronous=FULL`` syncs the WAL at each commit, so a burn is on disk
before the ciphertext leaves the server.

Remnants. ``secure_delete`` overwrites a deleted ciphertext with zeros, but in
WAL mode the zeros go to new WAL frames: the database file keeps the old pages
until a checkpoint, and the WAL keeps every frame ever written (the create's
too) until it is overwritten or truncated, which with connections open may be
hundreds of secrets later. So whenever a change ends a secret, a thread of the
process runs ``wal_checkpoint(TRUNCATE)`` about ``SCRUB_AFTER`` seconds later,
off the request path: one checkpoint (one fsync of the database, a truncate of
the WAL) for all the endings of that second, never one per request.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import StorageTooNew, StorageUnavailable
from . import migrations
from .base import (
    COUNTERS,
    NOTICE_GIVE_UP,
    Live,
    NewRecord,
    Notice,
    Purged,
    Receipt,
    ReplyInfo,
    ReplyKey,
    Revealed,
    Storage,
    Taken,
    checked_reveal,
)
from .group import GroupCommit, Write

log = logging.getLogger(__name__)

# Seconds from a secret's end to the checkpoint that wipes it from the files;
# the endings of that second share one checkpoint.
SCRUB_AFTER = 1.0
# Held for a whole checkpoint, and by os.fork: a child forked while the scrub
# thread is inside SQLite would inherit SQLite's internal mutexes locked by a
# thread it does not have, and hang at its first query.
_CHECKPOINTING = threading.Lock()
os.register_at_fork(before=_CHECKPOINTING.acquire, after_in_parent=_CHECKPOINTING.release,
                    after_in_child=_CHECKPOINTING.release)

_LIVE = "state = 'waiting' AND expires_at > ?"
# A live secret's metadata (SQLiteStorage._live), by id and now.
_LOOKUP = ("SELECT link_hash, access_hash, kdf, expires_at, max_views, views_left,"
           f" failed_attempts, reply_public_key, kind FROM secrets WHERE id = ? AND {_LIVE}")
# What a secret forgets when it ends: only states and times remain.
_FORGET = ("link_hash = NULL, access_hash = NULL, kdf = NULL, notify_address = NULL,"
           " notify_language = NULL")
# The ciphertext keys of requests' answers, which end with their request.
_ANSWERS = ("SELECT secret_id || '/' || number FROM replies JOIN secrets"
            " ON secrets.id = replies.secret_id AND secrets.kind = 'request'")
# A reply may come while the receipt is kept; a request's answer only while it is live.
_MAY_REPLY = f"keep_until > :now AND (kind = 'secret' OR {_LIVE.replace('?', ':now')})"
# What a change needs to queue its notices, read in the change's own statement.
_NOTIFY = "notify_address, notify_language, created_at"
# A ciphertext up to this size is read in its row; a larger one in pieces of it.
_INLINE = 256 * 1024
_NOTICE_COLUMNS = ("key, event_id, channel, secret_id, state, at, views_left, created_at,"
                   " address, language, queued_at, due_at")


def path_from_url(url: str, data_dir: str) -> str:
    """Turn sqlite:///relative.db or sqlite:////absolute.db into a file path."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"expected sqlite:///relative.db or sqlite:////absolute.db, got {url}")
    path = rest[1:]
    return path if os.path.isabs(path) else os.path.join(data_dir, path)


class Scrubber:
    """Runs ``scrub`` in a thread of this process, SCRUB_AFTER seconds after ``soon``.

    The thread lives only while there is something to scrub, so an idle
    process (or a test that opens many databases) keeps no thread.
    """

    def __init__(self, scrub, delay: float = SCRUB_AFTER):
        self.scrub = scrub
        self.delay = delay
        self._pid: int | None = None

    def soon(self) -> None:
        """Ask for a scrub; several asks within ``delay`` share one."""
        if self._pid != os.getpid():  # a fork: no lock or thread crosses it
            self._lock, self._thread, self._pending = threading.Lock(), None, False
            self._pid = os.getpid()
        with self._lock:
            self._pending = True
            self._cancelled = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mayfly-scrub",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.delay)
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            try:
                done = self.scrub()
            except (StorageUnavailable, OSError):
                # OSError: the writer's lock file could not be opened (its directory
                # gone or unwritable); a thread has no caller to hand it to.
                log.warning("could not checkpoint the database; trying again", exc_info=True)
                done = False
            if not done:
                with self._lock:
                    self._pending = not self._cancelled

    def cancel(self) -> None:
        """Forget the scrub asked for: the storage closes (its files may go next)."""
        if self._pid == os.getpid():
            with self._lock:
                self._pending = False
                self._cancelled = True


class SQLiteStorage(Storage):
    """Secrets in a SQLite database file; one connection per process and thread."""

    def __init__(self, path: str, synchronous: str = "FULL"):
        self.path = path
        self.synchronous = synchronous
        self._local = threading.local()
        self._scrubber = Scrubber(self._checkpoint)
        self._group = GroupCommit(lambda: self._connect(shared=True), self._lock_writer,
                                  self._unlock_writer)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # The schema steps this process ran (none when another was first).
            self.migrated = self._migrate()
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open the database {path}: {exc}") from exc
        finally:
            # No connection may cross uWSGI's fork: each worker opens its own.
            self.close()

    def _migrate(self) -> list[int]:
        """Bring the schema to this code's version, under the writer lock.

        uWSGI's workers start at once and each opens the database: the lock
        makes the first run the missing steps and the others find them done.
        Each step and its new user_version commit together.
        """
        lock = self._writer_lock()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            db = self._db()
            (version,) = db.execute("PRAGMA user_version").fetchone()
            known = len(migrations.SQLITE)
            if version > known:
                raise StorageTooNew(migrations.too_new(f"the database {self.path}", version,
                                                       known))
            for number in range(version + 1, known + 1):
                db.executescript(f"BEGIN IMMEDIATE; {migrations.SQLITE[number - 1]};"
                                 f" PRAGMA user_version = {number}; COMMIT;")
            return list(range(version + 1, known + 1))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def _connect(self, shared: bool = False) -> sqlite3.Connection:
        # The writing connection is used by one thread at a time, but not always the
        # same one (storage/group.py).
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                             check_same_thread=not shared)
        db.row_factory = sqlite3.Row  # rows are read by column name, never by position
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {self.synchronous}")
        # A burned ciphertext is overwritten, not left in free pages.
        db.execute("PRAGMA secure_delete = ON")
        return db

    def _db(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.db, local.pid = self._connect(), os.getpid()
        return local.db

    def _writer_lock(self) -> int:
        local = self._local
        if getattr(local, "lock_pid", None) != os.getpid():
            local.lock = os.open(self.path + ".writer", os.O_RDWR | os.O_CREAT, 0o600)
            local.lock_pid = os.getpid()
        return local.lock

    def _lock_writer(self) -> None:
        fcntl.flock(self._writer_lock(), fcntl.LOCK_EX)

    def _unlock_writer(self) -> None:
        fcntl.flock(self._writer_lock(), fcntl.LOCK_UN)

    def _write(self) -> Write:
        """One IMMEDIATE transaction: committed whole or rolled back whole.

        Writers first queue on a kernel file lock: SQLite's own busy handler
        sleeps with a growing back-off (up to 100 ms) and wakes late, while
        flock hands the lock over the moment it is released. SQLite's lock
        still guarantees atomicity; this one only orders the waiting.

        Threads of this process that write at the same time share one
        transaction and one COMMIT (storage/group.py): the block still runs
        alone on the connection, and returns only once its change is durable.
        """
        return self._group.transaction()

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it; False if readers held it.

        A connection and a lock of its own, closed after: the scrubber's thread
        comes and goes, and must leave no descriptor behind.
        """
        with _CHECKPOINTING:
            return self._checkpoint_unforked()

    def _checkpoint_unforked(self) -> bool:
        lock = os.open(self.path + ".writer", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # queue with the writers, as they do
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        finally:
            # Unlocked before closing: a process forked meanwhile holds a copy of
            # this descriptor, and the flock would live as long as that copy.
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)
        return busy == 0

    def scrub(self) -> str:
        if not self._checkpoint():
            raise StorageUnavailable("the database was busy: its WAL could not be truncated")
        return "checkpointed the database and truncated its WAL"

    def _read(self, sql: str, args: tuple) -> sqlite3.Row | None:
        try:
            return self._db().execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc

    @staticmethod
    def _count(db: sqlite3.Connection, name: str, by: int = 1, *more: str) -> None:
        """Add ``by`` to counter ``name`` and 1 to each of ``more``, in one statement."""
        if by:
            rows = ((name, by), *((other, 1) for other in more))
            db.execute(
                "INSERT INTO counters (name, value) VALUES "
                + ", ".join(["(?, ?)"] * len(rows))
                + " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                [value for row in rows for value in row],
            )

    def create(self, record: NewRecord) -> None:
        kdf = None if record.kdf is None else json.dumps(record.kdf)
        reply = record.reply_key
        with self._write() as db:
            db.execute(
                "INSERT INTO secrets (id, link_hash, access_hash, kdf, manage_hash, created_at,"
                " expires_at, keep_until, max_views, views_left, reply_public_key,"
                " reply_wrapped_key, reply_hash, kind, replies_left, notify_address,"
                " notify_language) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.id, record.link_hash, record.access_hash, kdf, record.manage_hash,
                 record.created_at, record.expires_at, record.keep_until, record.max_views,
                 record.max_views, reply and reply.public_key, reply and reply.wrapped_key,
                 reply and record.link_hash, record.kind, int(record.kind == "request"),
                 record.notify_address, record.notify_language),
            )
            self._store_ciphertext(db, record.id, record.ciphertext)
            self._count(db, "requests_created" if record.kind == "request"
                        else "secrets_created")

    def lookup(self, secret_id: str, now: float) -> Live | None:
        return self._live(self._read(_LOOKUP, (secret_id, now)), secret_id)

    @staticmethod
    def _live(row: sqlite3.Row | None, secret_id: str) -> Live | None:
        """The Live of a row of _LOOKUP."""
        if row is None:
            return None
        kdf = None if row["kdf"] is None else json.loads(row["kdf"])
        return Live(secret_id, row["link_hash"], row["access_hash"], kdf, row["expires_at"],
                    row["max_views"], row["views_left"], row["failed_attempts"],
                    row["reply_public_key"], row["kind"])

    def peek(self, secret_id: str, now: float) -> bytes | None:
        row = self._read(
            "SELECT data FROM ciphertexts JOIN secrets USING (id) WHERE id = ?"
            f" AND kind = 'request' AND {_LIVE}", (secret_id, now))
        return None if row is None else row["data"]

    def take(self, secret_id: str, now: float) -> Taken | None:
        with self._write() as db:
            taken = self._take(db, secret_id, now)
        if taken is not None and taken.views_left == 0:
            self._scrubber.soon()
        return taken

    def _take(self, db: sqlite3.Connection, secret_id: str, now: float) -> Taken | None:
        """take's change, in the caller's transaction; the caller scrubs when none is left."""
        row = db.execute(
            "UPDATE secrets SET views_left = views_left - 1,"
            " replies_left = replies_left + (reply_public_key IS NOT NULL),"
            " first_read_at = COALESCE(first_read_at, :now), last_read_at = :now"
            f" WHERE id = :id AND {_LIVE.replace('?', ':now')}"
            " RETURNING views_left, notify_address, kind",
            {"id": secret_id, "now": now},
        ).fetchone()
        if row is None:
            return None
        views_left = row["views_left"]
        ciphertext, rowid = self._ciphertext(db, secret_id)
        if views_left == 0:
            db.execute("DELETE FROM ciphertexts WHERE rowid = ?", (rowid,))
        if row["notify_address"] is not None or self.webhook_events:  # else: nothing
            self._queue(db, secret_id, "read", "read" if views_left == 0 else "waiting",
                        now, email=True)
        if views_left == 0:
            self._end(db, secret_id, "read", now, ciphertext=False,
                      answers=row["kind"] == "request")
            self._count(db, "views_revealed", 1, "secrets_read")
        else:
            self._count(db, "views_revealed")
        return Taken(ciphertext, views_left)

    def reveal(self, secret_id: str, now: float, link_hash: bytes, access_hash: bytes,
               max_attempts: int) -> Revealed | None:
        # The base class's steps in one write transaction: its look-up on this
        # thread's reading connection began a read transaction of its own and
        # re-read every page (the writing connection's commits empty that
        # connection's cache), a third of a reveal's system CPU.
        with self._write() as db:
            live = self._live(db.execute(_LOOKUP, (secret_id, now)).fetchone(), secret_id)
            revealed = checked_reveal(live, link_hash, access_hash,
                                      lambda: self._fail(db, secret_id, now, max_attempts),
                                      lambda: self._take(db, secret_id, now))
        if revealed is not None and (revealed.attempts_left == 0 or (
                revealed.taken is not None and revealed.taken.views_left == 0)):
            self._scrubber.soon()
        return revealed

    @staticmethod
    def _store_ciphertext(db: sqlite3.Connection, key: str, data: bytes | bytearray) -> None:
        """Insert a ciphertext; a large one as zeros, then written in pieces.

        Bound whole, SQLite copies the value once to bind it and again to build
        the row: two more copies of a 10 MiB ciphertext alive in the worker.
        """
        if len(data) <= _INLINE:
            db.execute("INSERT INTO ciphertexts (id, data) VALUES (?, ?)", (key, data))
            return
        rowid = db.execute("INSERT INTO ciphertexts (id, data) VALUES (?, zeroblob(?))",
                           (key, len(data))).lastrowid
        view = memoryview(data)
        with db.blobopen("ciphertexts", "data", rowid) as blob:
            for start in range(0, len(data), _INLINE):
                blob.write(view[start : start + _INLINE])

    @staticmethod
    def _ciphertext(db: sqlite3.Connection, key: str) -> tuple[bytes | bytearray, int]:
        """A ciphertext and its rowid; a large one read in pieces into one buffer.

        A plain ``SELECT data`` (or ``DELETE … RETURNING data``, which also
        gathers its rows before the first) holds the whole value in SQLite
        while Python copies it: two or three copies of a 10 MiB ciphertext.
        """
        row = db.execute(
            f"SELECT rowid, length(data) AS size, CASE WHEN length(data) <= {_INLINE}"
            " THEN data END AS data FROM ciphertexts WHERE id = ?", (key,)).fetchone()
        if row["data"] is not None:
            return row["data"], row["rowid"]
        data = bytearray(row["size"])
        with db.blobopen("ciphertexts", "data", row["rowid"], readonly=True) as blob:
            for start in range(0, len(data), _INLINE):
                data[start : start + _INLINE] = blob.read(_INLINE)
        return data, row["rowid"]

    @staticmethod
    def _end(db: sqlite3.Connection, secret_id: str, state: str, now: float,
             ciphertext: bool = True, answers: bool = True) -> None:
        """End a secret; the caller may already have deleted its ciphertext, or know it
        has no answers (only a request has)."""
        db.execute(f"UPDATE secrets SET state = ?, ended_at = ?, {_FORGET} WHERE id = ?",
                   (state, now, secret_id))
        if ciphertext:
            db.execute("DELETE FROM ciphertexts WHERE id = ?", (secret_id,))
        if answers:
            db.execute(f"DELETE FROM ciphertexts WHERE id IN ({_ANSWERS} WHERE id = ?)",
                       (secret_id,))

    def fail(self, secret_id: str, now: float, max_attempts: int) -> int | None:
        with self._write() as db:
            left = self._fail(db, secret_id, now, max_attempts)
        if left == 0:
            self._scrubber.soon()
        return left

    def _fail(self, db: sqlite3.Connection, secret_id: str, now: float,
              max_attempts: int) -> int | None:
        """fail's change, in the caller's transaction; the caller scrubs at 0."""
        row = db.execute(
            "UPDATE secrets SET failed_attempts = failed_attempts + 1"
            f" WHERE id = ? AND {_LIVE} RETURNING failed_attempts",
            (secret_id, now),
        ).fetchone()
        if row is None:
            return None
        self._count(db, "failed_attempts")
        left = max(max_attempts - row["failed_attempts"], 0)
        if left == 0:
            self._queue(db, secret_id, "failed", "failed", now, email=True)
            self._end(db, secret_id, "failed", now)
            self._count(db, "secrets_burned_by_attempts")
        return left

    def burn(self, secret_id: str, now: float) -> bool:
        with self._write() as db:
            live = db.execute(f"SELECT 1 FROM secrets WHERE id = ? AND {_LIVE}",
                              (secret_id, now)).fetchone()
            if live:
                # The sender burned it: no mail to tell them, only the webhook's event.
                self._queue(db, secret_id, "burned", "burned", now, email=False)
                self._end(db, secret_id, "burned", now)
                self._count(db, "secrets_burned_by_sender")
        if live:
            self._scrubber.soon()
        return live is not None

    def post_reply(self, secret_id: str, ciphertext: bytes, now: float) -> int | None:
        with self._write() as db:
            row = db.execute(
                f"SELECT replies_left, kind FROM secrets WHERE id = :id AND {_MAY_REPLY}"
                " AND reply_public_key IS NOT NULL", {"id": secret_id, "now": now},
            ).fetchone()
            if row is None or row["replies_left"] == 0:
                return None if row is None else 0
            db.execute("UPDATE secrets SET replies_left = replies_left - 1 WHERE id = ?",
                       (secret_id,))
            number = db.execute(
                "INSERT INTO replies (secret_id, number, created_at) SELECT ?,"
                " COALESCE(MAX(number), 0) + 1, ? FROM replies WHERE secret_id = ?"
                " RETURNING number", (secret_id, now, secret_id),
            ).fetchone()["number"]
            self._store_ciphertext(db, f"{secret_id}/{number}", ciphertext)
            self._count(db, "requests_answered" if row["kind"] == "request"
                        else "replies_posted")
        return number

    def take_reply(self, secret_id: str, number: int, now: float) -> bytes | None:
        key = f"{secret_id}/{number}"
        with self._write() as db:
            row = db.execute(
                "UPDATE replies SET read_at = :now WHERE secret_id = :id AND number = :number"
                " AND read_at IS NULL AND EXISTS (SELECT 1 FROM secrets"
                f" WHERE id = replies.secret_id AND {_MAY_REPLY})"
                " RETURNING (SELECT kind FROM secrets WHERE id = :id) AS kind",
                {"now": now, "id": secret_id, "number": number},
            ).fetchone()
            if row is None:
                return None
            ciphertext, rowid = self._ciphertext(db, key)
            db.execute("DELETE FROM ciphertexts WHERE rowid = ?", (rowid,))
            ended = row["kind"] == "request"
            self._count(db, "answers_read" if ended else "replies_read")
            if ended:  # the answer is read: the request has done its work
                self._end(db, secret_id, "read", now)
        if ended:
            self._scrubber.soon()
        return ciphertext

    def _replies(self, secret_id: str) -> tuple[ReplyInfo, ...]:
        try:
            rows = self._db().execute(
                "SELECT number, created_at, read_at FROM replies WHERE secret_id = ?"
                " ORDER BY number", (secret_id,)).fetchall()
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        return tuple(ReplyInfo(row["number"], row["created_at"], row["read_at"]) for row in rows)

    def receipt(self, secret_id: str, now: float) -> Receipt | None:
        row = self._read(
            "SELECT manage_hash, state, created_at, expires_at, max_views, views_left,"
            " failed_attempts, first_read_at, last_read_at, ended_at, reply_hash, replies_left,"
            " reply_public_key, reply_wrapped_key, kind FROM secrets"
            " WHERE id = ? AND keep_until > ?",
            (secret_id, now),
        )
        if row is None:
            return None
        fields = {name: row[name] for name in row.keys()}
        public_key, wrapped_key = fields.pop("reply_public_key"), fields.pop("reply_wrapped_key")
        reply_key = None if public_key is None else ReplyKey(public_key, wrapped_key)
        return Receipt(id=secret_id, **fields, reply_key=reply_key,
                       replies=self._replies(secret_id))

    def purge(self, now: float) -> Purged:
        with self._write() as db:
            unread = db.execute(
                "SELECT count(*) AS unread FROM secrets WHERE state = 'waiting'"
                " AND expires_at <= ? AND views_left = max_views", (now,)
            ).fetchone()["unread"]
            self._queue_expired(db, now)
            db.execute(
                "DELETE FROM ciphertexts WHERE id IN"
                " (SELECT id FROM secrets WHERE state = 'waiting' AND expires_at <= ?)", (now,)
            )
            db.execute(f"DELETE FROM ciphertexts WHERE id IN ({_ANSWERS}"
                       " WHERE state = 'waiting' AND expires_at <= ?)", (now,))
            expired = db.execute(
                f"UPDATE secrets SET state = 'expired', ended_at = expires_at, {_FORGET}"
                " WHERE state = 'waiting' AND expires_at <= ?", (now,)
            ).rowcount
            old = "SELECT id FROM secrets WHERE keep_until <= ?"
            db.execute("DELETE FROM ciphertexts WHERE id IN (SELECT secret_id || '/' || number"
                       f" FROM replies WHERE secret_id IN ({old}))", (now,))
            db.execute(f"DELETE FROM replies WHERE secret_id IN ({old})", (now,))
            # Not the receipts' notices: the expiry queued above may be one of them.
            stale = db.execute("DELETE FROM notices WHERE queued_at <= ?",
                               (now - NOTICE_GIVE_UP,)).rowcount
            receipts = db.execute("DELETE FROM secrets WHERE keep_until <= ?", (now,)).rowcount
            self._count(db, "secrets_expired_unread", unread)
            self._count(db, "notices_dropped", stale)
        if expired or receipts:
            self._scrubber.soon()
        return Purged(expired=expired, receipts=receipts)

    # -- notices ------------------------------------------------------------------

    def _queue(self, db: sqlite3.Connection, secret_id: str, what: str, state: str,
               now: float, email: bool) -> None:
        """Queue a change's notices in its transaction; nothing at all when none is wanted.

        Called before the change ends the secret (which forgets the address). A
        view's event is "read:<n>", its n-th view, so that each view has its own id.
        """
        row = db.execute(f"SELECT views_left, max_views, {_NOTIFY} FROM secrets WHERE id = ?",
                         (secret_id,)).fetchone()
        views_left = row["views_left"]
        if what == "read":
            what = f"read:{row['max_views'] - views_left}"
        channels = [channel for channel, wanted in
                    (("email", email and row["notify_address"] is not None),
                     ("webhook", self.webhook_events)) if wanted]
        event = f"{secret_id}:{what}"
        for channel in channels:
            address = row["notify_address"] if channel == "email" else None
            language = row["notify_language"] if channel == "email" else None
            db.execute(
                f"INSERT OR IGNORE INTO notices ({_NOTICE_COLUMNS})"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"{event}/{channel}", event, channel, secret_id, state, now, views_left,
                 row["created_at"], address, language, now, now))

    def _queue_expired(self, db: sqlite3.Connection, now: float) -> None:
        """Queue the notices of every secret the purge is about to mark expired."""
        due = "FROM secrets WHERE state = 'waiting' AND expires_at <= :now"
        select = ("SELECT id || ':expired/' || {channel}, id || ':expired', {channel}, id,"
                  " 'expired', expires_at, views_left, created_at, {address}, {language},"
                  " :now, :now")
        # The sender hears only of a message nobody read; the webhook of every expiry.
        db.execute(f"INSERT OR IGNORE INTO notices ({_NOTICE_COLUMNS}) "
                   + select.format(channel="'email'", address="notify_address",
                                   language="notify_language")
                   + f" {due} AND notify_address IS NOT NULL AND views_left = max_views",
                   {"now": now})
        if self.webhook_events:
            db.execute(f"INSERT OR IGNORE INTO notices ({_NOTICE_COLUMNS}) "
                       + select.format(channel="'webhook'", address="NULL", language="NULL")
                       + f" {due}", {"now": now})

    def claim_notices(self, now: float, lease_until: float, limit: int) -> list[Notice]:
        # A read first: the poll of an idle queue never takes the write lock.
        if self._read("SELECT 1 FROM notices WHERE due_at <= ? LIMIT 1", (now,)) is None:
            return []
        with self._write() as db:
            rows = db.execute(
                "UPDATE notices SET due_at = ?, attempts = attempts + 1 WHERE key IN"
                " (SELECT key FROM notices WHERE due_at <= ? ORDER BY due_at LIMIT ?)"
                " RETURNING key, event_id, channel, secret_id, state, at, views_left,"
                " created_at, queued_at, attempts, address, language",
                (lease_until, now, limit)).fetchall()
        return [Notice(**{name: row[name] for name in row.keys()}) for row in rows]

    def notice_done(self, notice: Notice, counter: str) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM notices WHERE key = ?", (notice.key,)).rowcount:
                self._count(db, counter)

    def notice_retry(self, notice: Notice, at: float) -> None:
        with self._write() as db:
            db.execute("UPDATE notices SET due_at = ? WHERE key = ?", (at, notice.key))

    def counters(self) -> dict[str, int]:
        try:
            rows = {row["name"]: row["value"]
                    for row in self._db().execute("SELECT name, value FROM counters")}
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        return {name: rows.get(name, 0) for name in COUNTERS}

    def ping(self) -> None:
        self._read("SELECT count(*) FROM counters", ())

    def close(self) -> None:
        self._scrubber.cancel()
        self._group.close()
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            local.db.close()
        if getattr(local, "lock_pid", None) == os.getpid():
            os.close(local.lock)
        self._local = threading.local()
