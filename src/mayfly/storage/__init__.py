"""Storage backends, chosen by MAYFLY_STORAGE_URL."""

from __future__ import annotations

import os

from ..errors import ConfigError
from .base import Storage


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
    raise ConfigError(f"MAYFLY_STORAGE_URL: unsupported scheme {scheme!r} (use sqlite://)")
