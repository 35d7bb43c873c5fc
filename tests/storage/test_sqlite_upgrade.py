"""A database written before replies existed opens, migrates and still reads."""

from __future__ import annotations

import sqlite3

from mayfly.storage.sqlite import SQLiteStorage

NOW = 1_800_000_000.0
# The schema of the first release, before replies (issue #11).
FIRST_RELEASE = """
CREATE TABLE secrets (
    id TEXT PRIMARY KEY, link_hash BLOB, access_hash BLOB, kdf TEXT,
    manage_hash BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'waiting',
    created_at REAL NOT NULL, expires_at REAL NOT NULL, keep_until REAL NOT NULL,
    max_views INTEGER NOT NULL, views_left INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0, first_read_at REAL, last_read_at REAL,
    ended_at REAL
);
CREATE TABLE ciphertexts (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def test_a_secret_stored_before_replies_still_reads(tmp_path):
    path = str(tmp_path / "mayfly.db")
    old = sqlite3.connect(path)
    old.executescript(FIRST_RELEASE)
    old.execute("INSERT INTO secrets (id, link_hash, access_hash, manage_hash, created_at,"
                " expires_at, keep_until, max_views, views_left) VALUES (?,?,?,?,?,?,?,?,?)",
                ("o" * 24, b"L" * 32, b"A" * 32, b"M" * 32, NOW, NOW + 60, NOW + 600, 1, 1))
    old.execute("INSERT INTO ciphertexts VALUES (?, ?)", ("o" * 24, b"\x01old"))
    old.commit()
    old.close()
    storage = SQLiteStorage(path)
    assert storage.lookup("o" * 24, NOW).reply_public_key is None
    assert storage.take("o" * 24, NOW).ciphertext == b"\x01old"
    receipt = storage.receipt("o" * 24, NOW)
    assert (receipt.state, receipt.reply_key, receipt.replies) == ("read", None, ())
    assert storage.post_reply("o" * 24, b"\x04reply", NOW) is None
    storage.close()
    SQLiteStorage(path).close()  # opening again migrates nothing twice
