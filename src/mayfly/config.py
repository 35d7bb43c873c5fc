"""Settings: defaults, then MAYFLY_* environment variables, then the caller's mapping.

Every value is cast here, once, and a bad one stops the start with a message
that names the setting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from .errors import ConfigError

MiB = 1024 * 1024
DAY = 86_400
# The operator may raise the longest lifetime up to this, no further.
LIFETIME_CEILING = 30 * DAY


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set; the field name prefixed by MAYFLY_ is its variable."""

    storage_url: str = ""  # empty: sqlite file in data_dir
    data_dir: str = ""  # empty: Flask's instance folder
    public_url: str = ""  # empty: scheme and host of the request (through trusted proxies)
    max_ciphertext_bytes: int = 10 * MiB
    min_lifetime: int = 300
    max_lifetime: int = 7 * DAY
    default_lifetime: int = DAY
    max_views: int = 100
    max_attempts: int = 5
    receipt_retention: int = 7 * DAY
    rate_limit_create: str = "30/minute"  # empty: no limit
    rate_limit_reveal: str = "60/minute"
    rate_limit_storage: str = ""  # empty: memory:// (per process)
    proxy_count: int = 0  # how many proxies (nginx: 1) stand before us and are trusted
    purge_interval: int = 60  # seconds between cheap purges piggy-backed on writes
    sqlite_synchronous: str = "FULL"  # FULL makes a burn durable before the reveal answers
    metrics: bool = True
    smtp_url: str = ""  # empty: no email notices (the compose page hides the field)
    mail_from: str = ""  # the From: of notices; required with smtp_url
    webhook_url: str = ""  # empty: no webhook events
    webhook_secret: str = ""  # the HMAC-SHA256 key of webhook events; required with webhook_url
    notice_retry: int = 30  # seconds before the first retry of a notice; doubles up to an hour
    notice_lease: int = 300  # seconds a worker holds a notice it claimed before another may

    def __post_init__(self):
        checks: list[tuple[str, bool, str]] = [
            ("max_ciphertext_bytes", self.max_ciphertext_bytes >= 1024, "must be at least 1024"),
            ("min_lifetime", self.min_lifetime >= 1, "must be at least 1 second"),
            ("max_lifetime", self.min_lifetime <= self.max_lifetime <= LIFETIME_CEILING,
             f"must lie between min_lifetime and {LIFETIME_CEILING} (30 days)"),
            ("default_lifetime", self.min_lifetime <= self.default_lifetime <= self.max_lifetime,
             "must lie between min_lifetime and max_lifetime"),
            ("max_views", 1 <= self.max_views <= 100, "must lie between 1 and 100"),
            ("max_attempts", 1 <= self.max_attempts <= 100, "must lie between 1 and 100"),
            ("receipt_retention", self.receipt_retention >= 0, "must not be negative"),
            ("proxy_count", 0 <= self.proxy_count <= 5, "must lie between 0 and 5"),
            ("purge_interval", self.purge_interval >= 0, "must not be negative"),
            ("sqlite_synchronous", self.sqlite_synchronous in {"FULL", "NORMAL", "EXTRA"},
             "must be FULL, EXTRA or NORMAL"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise ConfigError(f"MAYFLY_{name.upper()} {why} (got {getattr(self, name)!r})")
        self._check_notices()

    def _check_notices(self) -> None:
        """Notice settings; their values are never echoed (they may hold a password)."""
        from .notices.config import notice_problems

        for name, why in notice_problems(self):
            raise ConfigError(f"MAYFLY_{name.upper()} {why}")

    @property
    def email_notices(self) -> bool:
        """Whether senders may ask for email notices."""
        return bool(self.smtp_url)

    @property
    def notices(self) -> bool:
        """Whether anything (email or webhook) is ever delivered."""
        return bool(self.smtp_url or self.webhook_url)


# Each setting's type, by the text of its annotation: "int", "str" or "bool".
_KINDS = {f.name: f.type for f in fields(Settings)}
_CASTS: dict[str, Callable[[str], object]] = {"int": int, "str": str, "bool": _bool}
_TYPES: dict[str, type] = {"int": int, "str": str, "bool": bool}


def _cast(name: str, value: object) -> object:
    """A setting's value from text (the environment, or a mapping's string) or its own type."""
    kind = _KINDS[name]
    try:
        if isinstance(value, str):
            return _CASTS[kind](value)
        if type(value) is not _TYPES[kind]:  # True is no count, 3 is no switch
            raise ValueError(f"expected {kind}, got {type(value).__name__} {value!r}")
    except ValueError as exc:
        raise ConfigError(f"MAYFLY_{name.upper()}: {exc}") from None
    return value


def load(overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None):
    """Build Settings from MAYFLY_* variables, then a mapping of names; both cast alike."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in _KINDS:
        if f"MAYFLY_{name.upper()}" in environ:
            raw[name] = environ[f"MAYFLY_{name.upper()}"]
    for given, value in (overrides or {}).items():
        name = given.lower().removeprefix("mayfly_")
        if name not in _KINDS:
            raise ConfigError(f"unknown setting {given!r}")
        raw[name] = value
    return Settings(**{name: _cast(name, value) for name, value in raw.items()})
