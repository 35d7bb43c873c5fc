"""Rate limits per client address on create and reveal (Flask-Limiter)."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .config import Settings

# Endpoint -> the setting holding its limit (e.g. "30/minute"; empty: no limit).
LIMITED = {
    "api.create_secret": "rate_limit_create",
    "api.reveal_secret": "rate_limit_reveal",
}


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Wrap the limited views; counters live in rate_limit_storage (memory: per process)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage or "memory://",
        headers_enabled=True,
        key_prefix="mayfly",
    )
    for endpoint, setting in LIMITED.items():
        limit = getattr(settings, setting)
        if limit:
            app.view_functions[endpoint] = limiter.limit(limit)(app.view_functions[endpoint])
    return limiter
