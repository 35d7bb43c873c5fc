"""Delivers the notice queue in the background: a uWSGI mule, never a request's worker.

``mayfly serve`` adds the ``[notices]`` section of the packaged uwsgi.ini when
notices are configured, and uWSGI's master then runs ``mule()`` in a process of
its own (and starts it again if it dies). A reveal only queues; this process
sends. Delivery is at least once: a notice is claimed under a lease, sent, then
removed; a worker killed in between leaves it claimed, and once the lease ends
it is sent again with the same event id, which a receiver uses to de-duplicate.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable

import requests

from ..errors import StorageUnavailable
from ..rules import Rules
from ..storage.base import NOTICE_GIVE_UP, Notice
from . import mail, webhook
from .config import parse_smtp_url

log = logging.getLogger(__name__)

# Notices claimed at once, and the idle queue's polling period.
BATCH = 20
POLL = 1.0
# Back-off doubles from MAYFLY_NOTICE_RETRY up to this; a notice undelivered for
# GIVE_UP seconds is dropped (and counted in /metrics).
LONGEST_WAIT = 3600
GIVE_UP = NOTICE_GIVE_UP


class Permanent(Exception):
    """This notice can never be delivered: retrying is pointless."""


class Courier:
    """Claims due notices, delivers each, and records what became of it."""

    def __init__(self, rules: Rules, clock: Callable[[], float] = time.time):
        self.rules = rules
        self.settings = rules.settings
        self.clock = clock
        self.smtp = parse_smtp_url(self.settings.smtp_url) if self.settings.smtp_url else None

    def deliver(self, notice: Notice) -> None:
        """Send one notice; raise Permanent, or anything else for a retry."""
        if notice.channel == "email":
            if self.smtp is None:
                raise Permanent("email notices are no longer configured")
            try:
                mail.send(self.smtp, mail.compose(notice, self.settings.mail_from))
            except smtplib.SMTPRecipientsRefused:
                raise Permanent("the SMTP server refused the address") from None
        elif notice.channel == "webhook":
            if not self.settings.webhook_url:
                raise Permanent("the webhook is no longer configured")
            webhook.post(self.settings.webhook_url, self.settings.webhook_secret, notice)
        else:
            raise Permanent(f"unknown channel {notice.channel!r}")

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones."""
        return min(self.settings.notice_retry * 2 ** min(attempts - 1, 20), LONGEST_WAIT)

    def settle(self, notice: Notice, error: Exception | None) -> None:
        """Record a delivery: removed when sent or hopeless, else due again later."""
        storage = self.rules.storage
        if error is None:
            storage.notice_done(notice, "notices_sent")
            return
        now = self.clock()
        # Only the error's kind and channel: an SMTP error's text may hold the address.
        # The event's kind ("read:1"), never the secret's id.
        log.warning("notice %s by %s failed (attempt %d): %s", notice.event_id.split(":", 1)[1],
                    notice.channel, notice.attempts, describe(error))
        if isinstance(error, Permanent) or now - notice.queued_at >= GIVE_UP:
            storage.notice_done(notice, "notices_dropped")
        else:
            storage.notice_retry(notice, now + self.backoff(notice.attempts))

    def run_once(self) -> int:
        """Claim and deliver one batch; return how many notices it held."""
        now = self.clock()
        claimed = self.rules.storage.claim_notices(now, now + self.settings.notice_lease, BATCH)
        for notice in claimed:
            try:
                self.deliver(notice)
            except (Permanent, OSError, smtplib.SMTPException, requests.RequestException,
                    webhook.WebhookRefused) as exc:
                self.settle(notice, exc)
            else:
                self.settle(notice, None)
        return len(claimed)


def describe(error: Exception) -> str:
    """An error without what it may quote (an address, a URL with a password)."""
    if isinstance(error, (Permanent, webhook.WebhookRefused)):
        return str(error)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__} (SMTP code {error.smtp_code})"
    return type(error).__name__


def run_forever(courier: Courier, sleep: Callable[[float], None] = time.sleep) -> None:
    """Deliver forever; purge now and then, so an expiry is noticed without traffic."""
    rules = courier.rules
    while True:
        try:
            # The purge queues the "expired unread" notices of secrets nobody touched.
            rules.purge_now_and_then(courier.clock())
            if courier.run_once():
                continue
        except StorageUnavailable:
            log.warning("the storage is unavailable; notices wait", exc_info=False)
        sleep(POLL)


def mule() -> None:
    """uWSGI's entry point for the notices mule (uwsgi.ini's [notices] section)."""
    from .. import app_rules, create_app

    logging.basicConfig(level=logging.INFO, format="mayfly notices: %(message)s")
    rules = app_rules(create_app())
    if not rules.settings.notices:
        log.info("no SMTP server and no webhook configured: nothing to deliver")
    run_forever(Courier(rules))
