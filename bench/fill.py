"""Secrets for the load: request bodies, and stores filled without going through HTTP.

The server only hashes the proofs a client sends, so every secret made here
shares one pair of random proofs: each reveal body is the same bytes and only
the path differs. SQLite stores are filled with direct inserts in one
transaction (a million rows in seconds, where HTTP would take an hour); other
backends go through the app's own Rules, in process.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

from mayfly.crypto import b64encode
from mayfly.storage.sqlite import SQLiteStorage

KiB = 1024
MiB = 1024 * KiB
LINK_PROOF = os.urandom(32)
ACCESS_PROOF = os.urandom(32)
LINK_HASH = hashlib.sha256(LINK_PROOF).digest()
ACCESS_HASH = hashlib.sha256(ACCESS_PROOF).digest()
REVEAL_BODY = json.dumps({"link_proof": b64encode(LINK_PROOF),
                          "access_proof": b64encode(ACCESS_PROOF)})
DAY = 86_400


def ciphertext(size: int) -> bytes:
    """A mayfly v1 envelope of `size` bytes (the server never decrypts it)."""
    return b"\x01" + os.urandom(size - 1)


def create_body(size: int = KiB, max_views: int = 1) -> str:
    """The JSON of a create request with a `size`-byte ciphertext."""
    return json.dumps({"ciphertext": b64encode(ciphertext(size)),
                       "link_proof_hash": b64encode(LINK_HASH),
                       "access_proof_hash": b64encode(ACCESS_HASH),
                       "kdf": None, "expires_in": DAY, "max_views": max_views})


def fill_sqlite(path: Path, count: int, size: int = KiB, max_views: int = 1,
                lifetime: float = DAY, retention: float = 7 * DAY) -> list[str]:
    """Insert `count` secrets straight into a mayfly SQLite file; return their ids.

    A negative `lifetime` makes secrets that expired that long ago (for the purge).
    """
    SQLiteStorage(str(path))  # creates the schema, as the app would
    now = time.time()
    created = now - max(0.0, -lifetime) - 1
    expires = now + lifetime
    ids = [secrets.token_urlsafe(18) for _ in range(count)]
    data = ciphertext(size)
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO secrets (id, link_hash, access_hash, kdf, manage_hash, created_at,"
            " expires_at, keep_until, max_views, views_left) VALUES (?,?,?,NULL,?,?,?,?,?,?)",
            ((i, LINK_HASH, ACCESS_HASH, LINK_HASH, created, expires, expires + retention,
              max_views, max_views) for i in ids))
        db.executemany("INSERT INTO ciphertexts (id, data) VALUES (?, ?)",
                       ((i, data) for i in ids))
        db.execute("COMMIT")
    finally:
        db.close()
    return ids


def fill_rules(app, count: int, size: int = KiB, max_views: int = 1) -> list[str]:
    """Create `count` secrets through an app's Rules (any backend); return their ids."""
    from mayfly import app_rules
    from mayfly.rules import NewSecret

    rules = app_rules(app)
    data = ciphertext(size)
    new = NewSecret(ciphertext=data, link_proof_hash=LINK_HASH, access_proof_hash=ACCESS_HASH,
                    kdf=None, expires_in=DAY, max_views=max_views)
    return [rules.create(new).id for _ in range(count)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def reveal_lines(ids: list[str]) -> list[str]:
    """"path<TAB>body" lines for the Lua script's once mode."""
    return [f"/api/v1/secrets/{i}/reveal\t{REVEAL_BODY}" for i in ids]
