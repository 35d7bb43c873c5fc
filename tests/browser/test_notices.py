"""A sender asks for an email notice on the compose page, in Chinese, and gets it (real SMTP)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..live import LiveServer, free_port
from ..notices.receivers import SmtpReceiver, make_certificate
from .story import open_link, read_message

pytestmark = pytest.mark.slow


@pytest.fixture
def mail_server(tmp_path):
    """mayfly serve with a real SMTP server (STARTTLS, AUTH) on loopback; both stopped after."""
    cert, key = make_certificate(tmp_path / "tls")
    smtp = SmtpReceiver(free_port(), cert, key).start()
    server = LiveServer(tmp_path / "server", processes=2, env={
        "MAYFLY_SMTP_URL": smtp.url, "MAYFLY_MAIL_FROM": "mayfly@example.org",
        "MAYFLY_NOTICE_RETRY": "1", "SSL_CERT_FILE": str(cert)})
    with server:
        yield server, smtp
    smtp.stop()


def test_a_chinese_sender_leaves_an_address_and_is_told_in_chinese_when_it_is_read(
        mail_server, new_context):
    server, smtp = mail_server
    sender = new_context(locale="zh-CN", base_url=server.url).new_page()
    reader = new_context(base_url=server.url).new_page()
    sender.goto("/")
    field = sender.get_by_test_id("notify-email")
    expect(field).to_be_visible()
    sender.get_by_test_id("message-input").fill("保险柜密码 4711")
    field.fill("sender@example.org")
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("share")).to_be_visible()
    link = sender.get_by_test_id("share-link").input_value()

    open_link(reader, link)
    assert read_message(reader) == "保险柜密码 4711"

    [mail] = smtp.wait_for(1)
    assert str(mail["To"]) == "sender@example.org"
    assert str(mail["Subject"]) == "mayfly：你的消息已被阅读"
    body = mail.get_content()
    assert "4711" not in body and link.split("#")[0] not in body and "http" not in body
