"""Rate limits per client address on the writing endpoints, counted by the ``limits`` library.

``limits`` is the engine under Flask-Limiter, by the same maintainers. We call
it from the views marked ``@rate_limited(...)`` only: Flask-Limiter's request
hook cost about 90 µs of CPU on every request, limited or not, a third of a
metadata GET (docs/performance.md).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable

from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from .config import Settings
from .errors import ConfigError
from .storage import is_redis

log = logging.getLogger(__name__)
# The attribute rate_limited() leaves on a view: the setting that holds its limit.
MARK = "mayfly_rate_limit"


def rate_limited(setting: str) -> Callable[[Callable], Callable]:
    """Mark a view as limited per client address by ``setting`` (e.g. "30/minute").

    Only a mark: init_app wraps the marked views once the settings are known.
    """
    def mark(view: Callable) -> Callable:
        setattr(view, MARK, setting)
        return view

    return mark


def storage_uri(settings: Settings) -> str:
    """Where limits are counted: rate_limit_storage, else the secrets' Redis, else memory.

    With Redis, the limits hold across uWSGI workers and app servers; in
    memory, each worker process counts on its own.
    """
    if settings.rate_limit_storage:
        return settings.rate_limit_storage
    return settings.storage_url if is_redis(settings.storage_url) else "memory://"


class PerProcessLimiter:
    """A limiter built on first use in each process, so nothing crosses uWSGI's fork
    and a limit store that is down when the app starts does not stop the start."""

    def __init__(self, uri: str):
        self.uri = uri
        self._limiter: FixedWindowRateLimiter | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> FixedWindowRateLimiter:
        if self._limiter is None or self._pid != os.getpid():
            with self._lock:  # a worker's threads share one limiter, built once
                if self._limiter is None or self._pid != os.getpid():
                    self._limiter = FixedWindowRateLimiter(storage_from_string(self.uri))
                    self._pid = os.getpid()
        return self._limiter


# Where init_app leaves each limited endpoint's count(client), for lean_writes.py too.
COUNTERS = "mayfly.rate_limits"


def _counter(limiter: PerProcessLimiter, scope: str,
             items: list[RateLimitItem]) -> Callable[[str], None]:
    """count(client): one more request of ``scope`` from ``client``; TooManyRequests if over."""
    def count(client: str) -> None:
        for item in items:
            try:
                allowed = limiter.get().hit(item, "mayfly", scope, client)
            except Exception:  # any failure of the limit store
                # A limit store that does not answer must not turn a request
                # into a 500: it goes on to the secrets' storage, which then
                # answers 503 (the same Redis) or serves it.
                log.warning("rate limit storage unavailable; %s not limited", scope)
                continue
            if not allowed:
                reset = limiter.get().get_window_stats(item, "mayfly", scope, client).reset_time
                raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))

    return count


def _limited(view: Callable, count: Callable[[str], None]) -> Callable:
    @functools.wraps(view)
    def limited_view(*args, **kwargs):
        count(request.remote_addr or "unknown")  # the real one, through ProxyFix
        return view(*args, **kwargs)

    return limited_view


def count_request(app: Flask, endpoint: str, environ: dict) -> None:
    """Count a request to ``endpoint`` as its view would, from the WSGI environ alone."""
    count = app.extensions.get(COUNTERS, {}).get(endpoint)
    if count is not None:
        count(environ.get("REMOTE_ADDR") or "unknown")  # request.remote_addr's source


def init_app(app: Flask, settings: Settings) -> PerProcessLimiter | None:
    """Wrap the views marked by rate_limited(); counters live where storage_uri says."""
    marked = {endpoint: getattr(view, MARK) for endpoint, view in app.view_functions.items()
              if hasattr(view, MARK)}
    limits = {endpoint: (setting, getattr(settings, setting))
              for endpoint, setting in marked.items() if getattr(settings, setting)}
    if not limits:
        return None
    limiter = PerProcessLimiter(storage_uri(settings))
    counters = app.extensions.setdefault(COUNTERS, {})
    for endpoint, (setting, limit) in limits.items():
        try:
            items = parse_many(limit)
        except ValueError:
            raise ConfigError(
                f"MAYFLY_{setting.upper()}: {limit!r} is not a limit like 30/minute") from None
        counters[endpoint] = _counter(limiter, endpoint, items)
        app.view_functions[endpoint] = _limited(app.view_functions[endpoint], counters[endpoint])
    return limiter
