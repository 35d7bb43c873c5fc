"""Storage backends, chosen by MAYFLY_STORAGE_URL."""

from __future__ import annotations

import os

from ..errors import ConfigError
from .base import Storage

# Kept here so that choosing a backend never imports a driver it does not need.
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster")


def sqlite_file(url: str, data_dir: str) -> str | None:
    """The database file a SQLite URL (or the empty default) names; None for other schemes."""
    if not url:
        return os.path.join(data_dir, "mayfly.db")
    if url.split(":", 1)[0] != "sqlite":
        return None
    from .sqlite import path_from_url

    try:
        return path_from_url(url, data_dir)
    except ValueError as exc:
        raise ConfigError(f"MAYFLY_STORAGE_URL: {exc}") from None


def open_storage(url: str, data_dir: str, synchronous: str = "FULL") -> Storage:
    """Open the backend a URL names; an empty URL is the default SQLite file."""
    path = sqlite_file(url, data_dir)
    if path is not None:
        from .sqlite import SQLiteStorage

        return SQLiteStorage(path, synchronous)
    scheme = url.split(":", 1)[0]
    if scheme in REDIS_SCHEMES:
        from .redis import RedisStorage

        return RedisStorage(url)
    raise ConfigError(f"MAYFLY_STORAGE_URL: unsupported scheme {scheme!r}"
                      " (use sqlite://, redis://, rediss:// or redis+cluster://)")


def is_redis(url: str) -> bool:
    """Whether a storage URL names Redis or a Redis Cluster."""
    return url.split(":", 1)[0] in REDIS_SCHEMES
