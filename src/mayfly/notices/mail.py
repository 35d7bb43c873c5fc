"""The email a sender gets: what became of their message, never what it said.

A notice names the message only by its creation time, and links to nothing:
not the message (the reader's link), not the receipt (its secret part stays
with the sender). Its texts are the ``notices`` catalogue of the sender's page
language (translations/<language>/LC_MESSAGES/notices.po; English where a
language has none).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from importlib.resources import files

from babel.support import NullTranslations, Translations

from ..languages import LANGUAGES
from ..storage.base import Notice
from .config import SmtpServer

# Seconds to connect to the SMTP server and for each of its answers.
SMTP_TIMEOUT = 30.0


def N_(text: str) -> str:  # noqa: N802 -- pybabel's default keyword for a deferred string
    """Mark a string for the catalogue; it is translated when the mail is written."""
    return text


SUBJECTS = {
    "read": N_("mayfly: your message was read"),
    "waiting": N_("mayfly: your message was read"),
    "failed": N_("mayfly: your message was burned"),
    "expired": N_("mayfly: your message expired unread"),
}
BODIES = {
    "read": N_("The message you created at %(created)s was read at %(when)s. It is now "
               "destroyed: no view is left."),
    "waiting": N_("The message you created at %(created)s was read at %(when)s. Views left: "
                  "%(left)s."),
    "failed": N_("The message you created at %(created)s was burned at %(when)s after too "
                 "many wrong passphrases. Nobody read it."),
    "expired": N_("The message you created at %(created)s expired at %(when)s without being "
                  "read. It is destroyed."),
}
FOOTER = N_("mayfly keeps the address you gave only until the message is gone and its last "
            "notice is sent. This notice holds no link and nothing of the message.")


def catalogue(language: str | None) -> NullTranslations:
    """The notices catalogue of a page language; English (the source) if it has none."""
    known = LANGUAGES.get(language or "en") or LANGUAGES["en"]
    folder = str(files("mayfly").joinpath("translations"))
    return Translations.load(folder, [known.catalogue], domain="notices")


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def message_id(notice: Notice) -> str:
    """One Message-ID per event: a receiver de-duplicates a notice sent twice by it."""
    return hashlib.sha256(notice.event_id.encode()).hexdigest()[:40]


def compose(notice: Notice, sender: str) -> EmailMessage:
    """The notice as an email, in the sender's language."""
    texts = catalogue(notice.language)
    body = texts.gettext(BODIES[notice.state]) % {
        "created": _time(notice.created_at), "when": _time(notice.at),
        "left": notice.views_left}
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = notice.address
    mail["Subject"] = texts.gettext(SUBJECTS[notice.state])
    mail["Date"] = format_datetime(datetime.fromtimestamp(notice.at, UTC))
    mail["Message-ID"] = f"<{message_id(notice)}@{sender.rsplit('@', 1)[1]}>"
    mail["X-Mayfly-Event-Id"] = message_id(notice)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(f"{body}\n\n-- \n{texts.gettext(FOOTER)}\n")
    return mail


def send(server: SmtpServer, mail: EmailMessage) -> None:
    """Hand one mail to the SMTP server over TLS; smtplib's errors go to the caller."""
    context = ssl.create_default_context()
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT,
                                context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
    with smtp:
        if not server.implicit_tls:
            # Required, never optional: without it a password and an address cross in clear.
            smtp.starttls(context=context)
        if server.user:
            smtp.login(server.user, server.password or "")
        smtp.send_message(mail)
