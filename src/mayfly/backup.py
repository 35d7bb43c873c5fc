"""``mayfly backup``: a consistent copy of the SQLite database, while it serves.

SQLite's online backup API copies every page under one read transaction: in
WAL mode writers go on meanwhile, and the copy is the database as of one
moment, with its schema version. Redis keeps its own persistence (RDB, AOF).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from .errors import MayflyError
from .storage import is_redis, sqlite_file


class BackupError(MayflyError):
    """The backup was not made."""


def backup(destination: Path) -> Path:
    """Copy the configured SQLite database into ``destination`` (a new file); return the source."""
    from . import config, data_directory

    settings = config.load()
    if is_redis(settings.storage_url):
        raise BackupError("mayfly backup copies SQLite storage, and this mayfly stores in Redis:"
                          " back up Redis with its own persistence (an RDB snapshot, BGSAVE,"
                          " or the AOF; docs/scaling.md)")
    source = Path(sqlite_file(settings.storage_url, data_directory(settings)))
    if not source.is_file():
        raise BackupError(f"there is no database at {source} (set MAYFLY_DATA_DIR or"
                          " MAYFLY_STORAGE_URL as the server has them)")
    if destination.exists():
        raise BackupError(f"{destination} already exists: choose a new file name")
    os.umask(0o077)  # the copy holds ciphertexts and proof hashes: private, as the original
    handle, partial = tempfile.mkstemp(prefix=".mayfly-backup-", dir=destination.parent)
    os.close(handle)
    try:
        _copy(source, Path(partial))
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return source


def _copy(source: Path, target: Path) -> None:
    """All pages in one step (one snapshot), then a self-contained, checked, synced file."""
    with_source = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        with_source.backup(copy, pages=-1)
        # A single file: no -wal beside it is needed to read it.
        copy.execute("PRAGMA journal_mode = DELETE")
        (check,) = copy.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its integrity check: {check}")
    finally:
        copy.close()
        with_source.close()
    with open(target, "rb") as written:
        os.fsync(written.fileno())
