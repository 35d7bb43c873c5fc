"""The notice settings: the SMTP URL, the From address, the webhook; parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Deliberately plain: one @, no spaces, quotes, brackets or line breaks (nothing
# that could smuggle a header), a dotted domain; 254 characters at most (RFC 5321).
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_ADDRESS = 254
MIN_WEBHOOK_SECRET = 16


@dataclass(frozen=True)
class SmtpServer:
    """Where notices are mailed: smtp:// (STARTTLS required) or smtps:// (TLS at once)."""

    host: str
    port: int
    implicit_tls: bool
    user: str | None
    password: str | None


def valid_address(text: str) -> bool:
    """Whether a string is an email address mayfly will mail (a plain one)."""
    return len(text) <= MAX_ADDRESS and _ADDRESS.fullmatch(text) is not None


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://[user:password@]host[:587] or smtps://[user:password@]host[:465]."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError("must start with smtp:// (STARTTLS) or smtps:// (TLS)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("names no host (smtp://user:password@host:587)")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("must be only smtp[s]://[user:password@]host[:port]")
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname, port=port or (465 if implicit else 587), implicit_tls=implicit,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None)


def _webhook_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "must be an http:// or https:// URL"
    return None


def notice_problems(settings) -> list[tuple[str, str]]:
    """(setting, why) for each wrong notice setting; the values are not repeated."""
    problems = []
    if settings.smtp_url:
        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            problems.append(("smtp_url", str(exc)))
        if not valid_address(settings.mail_from):
            problems.append(("mail_from", "must be a plain email address (required with"
                                          " MAYFLY_SMTP_URL)"))
    elif settings.mail_from:
        problems.append(("mail_from", "is set but MAYFLY_SMTP_URL is not"))
    if settings.webhook_url:
        if why := _webhook_problem(settings.webhook_url):
            problems.append(("webhook_url", why))
        if len(settings.webhook_secret) < MIN_WEBHOOK_SECRET:
            problems.append(("webhook_secret", f"must be at least {MIN_WEBHOOK_SECRET}"
                                               " characters (required with MAYFLY_WEBHOOK_URL)"))
    elif settings.webhook_secret:
        problems.append(("webhook_secret", "is set but MAYFLY_WEBHOOK_URL is not"))
    if settings.notice_retry < 1:
        problems.append(("notice_retry", "must be at least 1 second"))
    if settings.notice_lease < 1:
        problems.append(("notice_lease", "must be at least 1 second"))
    return problems
