"""Numbered changes to what the backends store, applied once at start.

SQLite counts the steps it has run in ``PRAGMA user_version``; Redis in the
key ``FORMAT_KEY``. Step N of a list brings the data from version N-1 to N.
Append a step for every change to what is stored; never edit one that was
released: a database out there has already run it.

A database newer than the code (a downgrade, or two releases sharing one
database) is refused at start instead of being misread.
"""

from __future__ import annotations

# --- SQLite --------------------------------------------------------------------
SQLITE: list[str] = [
    # 1: the schema of the first release (0.1.0), which had no version number:
    # IF NOT EXISTS, so that a 0.1.0 database, already holding it, is adopted as is.
    """
    CREATE TABLE IF NOT EXISTS secrets (
        id TEXT PRIMARY KEY,
        link_hash BLOB,
        access_hash BLOB,
        kdf TEXT,
        manage_hash BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        keep_until REAL NOT NULL,
        max_views INTEGER NOT NULL,
        views_left INTEGER NOT NULL,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        first_read_at REAL,
        last_read_at REAL,
        ended_at REAL
    );
    -- Kept apart so that counting a view never rewrites a large blob.
    CREATE TABLE IF NOT EXISTS ciphertexts (id TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS secrets_live_expiry ON secrets (expires_at)
        WHERE state = 'waiting';
    CREATE INDEX IF NOT EXISTS secrets_keep_until ON secrets (keep_until);
    """,
    # 2: replies (issue #11). The reply key, the proof hash that authorises a
    # reply and the grants (one per view) on the secret; the replies in a table
    # of their own, their ciphertexts in ciphertexts under "<secret id>/<n>",
    # which no secret id can be. Older secrets get NULLs: no replies.
    """
    ALTER TABLE secrets ADD COLUMN reply_public_key BLOB;
    ALTER TABLE secrets ADD COLUMN reply_wrapped_key BLOB;
    ALTER TABLE secrets ADD COLUMN reply_hash BLOB;
    ALTER TABLE secrets ADD COLUMN replies_left INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE replies (
        secret_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        created_at REAL NOT NULL,
        read_at REAL,
        PRIMARY KEY (secret_id, number)
    );
    """,
    # 3: requests (issue #11): a record whose ciphertext is a note and whose one
    # reply is the answer. Every older record is a secret.
    """
    ALTER TABLE secrets ADD COLUMN kind TEXT NOT NULL DEFAULT 'secret';
    """,
    # 4: notices (issue #12). The sender's address and page language on the
    # secret, until it ends; the queue of notices to deliver, written in the
    # transaction of the change it tells of. due_at is both the next try and,
    # while a worker holds a notice, the end of its lease.
    """
    ALTER TABLE secrets ADD COLUMN notify_address TEXT;
    ALTER TABLE secrets ADD COLUMN notify_language TEXT;
    CREATE TABLE notices (
        key TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        secret_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at REAL NOT NULL,
        views_left INTEGER NOT NULL,
        created_at REAL NOT NULL,
        address TEXT,
        language TEXT,
        queued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at REAL NOT NULL
    );
    CREATE INDEX notices_due ON notices (due_at);
    CREATE INDEX notices_secret ON notices (secret_id);
    """,
]

# --- Redis ---------------------------------------------------------------------
# A plain key outside every shard's hash tag: on a cluster it lives on one node,
# and GET/SET on it are single-key commands, as a cluster requires.
FORMAT_KEY = "mayfly:format"
# The first release (0.1.0) wrote no format key; its layout is format 1. A step
# for format N would go into a list like SQLITE's, run under a lock key.
REDIS_FORMAT = 1


def too_new(what: str, found: int, known: int) -> str:
    """The one line that refuses data from a newer mayfly."""
    return (f"{what} is at format version {found}, but this mayfly knows versions up to"
            f" {known} only: it was written by a newer mayfly. Upgrade mayfly"
            " (or restore a backup made by this version).")
