"""Storage backends, chosen by MAYFLY_STORAGE_URL."""

from __future__ import annotations

import os

from ..errors import ConfigError
from .base import Storage

# Kept here so that choosing a backend never imports a driver it does not need.
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster")


def open_storage(url: str, data_dir: str, synchronous: str = "FULL") -> Storage:
    """Open the backend a URL names; an empty URL is the default SQLite file."""
    if not url:
        from .sqlite import SQLiteStorage

        return SQLiteStorage(os.path.join(data_dir, "mayfly.db"), synchronous)
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from .sqlite import SQLiteStorage, path_from_url

        try:
            path = path_from_url(url, data_dir)
        except ValueError as exc:
            raise ConfigError(f"MAYFLY_STORAGE_URL: {exc}") from None
        return SQLiteStorage(path, synchronous)
    if scheme in REDIS_SCHEMES:
        from .redis import RedisStorage

        return RedisStorage(url)
    raise ConfigError(f"MAYFLY_STORAGE_URL: unsupported scheme {scheme!r}"
                      " (use sqlite://, redis://, rediss:// or redis+cluster://)")


def is_redis(url: str) -> bool:
    """Whether a storage URL names Redis or a Redis Cluster."""
    return url.split(":", 1)[0] in REDIS_SCHEMES
