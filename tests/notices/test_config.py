"""The notice settings: parsed, checked, and never echoed (they hold a password)."""

from __future__ import annotations

import pytest

from mayfly import config
from mayfly.errors import ConfigError
from mayfly.notices.config import parse_smtp_url, valid_address

SMTP = {"MAYFLY_SMTP_URL": "smtp://relay:pa%40ss@mail.example.org:2525",
        "MAYFLY_MAIL_FROM": "mayfly@example.org"}


def test_an_smtp_url_gives_host_port_tls_and_credentials():
    server = parse_smtp_url("smtp://relay:pa%40ss@mail.example.org:2525")
    assert (server.host, server.port, server.implicit_tls) == ("mail.example.org", 2525, False)
    assert (server.user, server.password) == ("relay", "pa@ss")
    assert parse_smtp_url("smtps://mail.example.org").port == 465
    assert parse_smtp_url("smtp://mail.example.org").port == 587


@pytest.mark.parametrize("url", [
    "http://mail.example.org", "smtp://", "smtp://user:secretpw@host:99999",
    "smtp://user:secretpw@host:587/path", "smtp://host?starttls=no"])
def test_a_bad_smtp_url_stops_the_start_in_one_line_without_its_password(url):
    with pytest.raises(ConfigError) as caught:
        config.load(environ={**SMTP, "MAYFLY_SMTP_URL": url})
    message = str(caught.value)
    assert message.startswith("MAYFLY_SMTP_URL ") and "\n" not in message
    assert "secretpw" not in message


@pytest.mark.parametrize("environ, name", [
    ({"MAYFLY_SMTP_URL": SMTP["MAYFLY_SMTP_URL"]}, "MAYFLY_MAIL_FROM"),
    ({**SMTP, "MAYFLY_MAIL_FROM": "not an address"}, "MAYFLY_MAIL_FROM"),
    ({"MAYFLY_MAIL_FROM": "mayfly@example.org"}, "MAYFLY_MAIL_FROM"),
    ({"MAYFLY_WEBHOOK_URL": "https://ops.example.org/hook"}, "MAYFLY_WEBHOOK_SECRET"),
    ({"MAYFLY_WEBHOOK_URL": "https://ops.example.org/hook",
      "MAYFLY_WEBHOOK_SECRET": "short"}, "MAYFLY_WEBHOOK_SECRET"),
    ({"MAYFLY_WEBHOOK_URL": "ftp://ops.example.org/hook",
      "MAYFLY_WEBHOOK_SECRET": "x" * 32}, "MAYFLY_WEBHOOK_URL"),
    ({"MAYFLY_WEBHOOK_SECRET": "x" * 32}, "MAYFLY_WEBHOOK_SECRET"),
    ({"MAYFLY_NOTICE_RETRY": "0"}, "MAYFLY_NOTICE_RETRY"),
    ({"MAYFLY_NOTICE_LEASE": "0"}, "MAYFLY_NOTICE_LEASE"),
])
def test_incomplete_notice_settings_are_refused_naming_the_setting(environ, name):
    with pytest.raises(ConfigError, match=f"^{name} "):
        config.load(environ=environ)


def test_notices_are_off_by_default_and_on_with_smtp_or_a_webhook():
    assert not config.load(environ={}).notices
    with_smtp = config.load(environ=SMTP)
    assert with_smtp.notices and with_smtp.email_notices
    hook = config.load(environ={"MAYFLY_WEBHOOK_URL": "https://ops.example.org/hook",
                                "MAYFLY_WEBHOOK_SECRET": "x" * 32})
    assert hook.notices and not hook.email_notices


@pytest.mark.parametrize("address, ok", [
    ("sender@example.org", True), ("first.last+tag@mail.example.co.uk", True),
    ("no-at-sign.example.org", False), ("two@@example.org", False),
    ("a@b@example.org", False), ("bcc@example.org\r\nBcc: victim@example.org", False),
    ("Name <sender@example.org>", False), ("sender@localhost", False),
    ("x" * 65 + "@example.org", False), ("a@" + "b" * 250 + ".org", False),
])
def test_only_plain_addresses_are_mailed(address, ok):
    assert valid_address(address) is ok
