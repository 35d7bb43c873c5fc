"""Rate limits per client address on create and reveal (Flask-Limiter)."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .config import Settings
from .storage import is_redis

# Endpoint -> the setting holding its limit (e.g. "30/minute"; empty: no limit).
LIMITED = {
    "api.create_secret": "rate_limit_create",
    "api.reveal_secret": "rate_limit_reveal",
}


def storage_uri(settings: Settings) -> str:
    """Where limits are counted: rate_limit_storage, else the secrets' Redis, else memory.

    With Redis, the limits hold across uWSGI workers and app servers; in
    memory, each worker process counts on its own.
    """
    if settings.rate_limit_storage:
        return settings.rate_limit_storage
    return settings.storage_url if is_redis(settings.storage_url) else "memory://"


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Wrap the limited views; counters live where storage_uri says."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri(settings),
        headers_enabled=True,
        key_prefix="mayfly",
        # A limit store that does not answer must not turn a request into a
        # 500: the request goes on to the secrets' storage, which then answers
        # 503 (the same Redis) or serves it.
        swallow_errors=True,
    )
    for endpoint, setting in LIMITED.items():
        limit = getattr(settings, setting)
        if limit:
            app.view_functions[endpoint] = limiter.limit(limit)(app.view_functions[endpoint])
    return limiter
