"""The courier: delivers, retries with back-off, drops after a day; fakes for SMTP and HTTP."""

from __future__ import annotations

import logging
import smtplib

import pytest

from mayfly import app_rules
from mayfly.notices import mail, webhook, worker
from mayfly.notices.worker import Courier

from ..helpers import make_secret

ADDRESS = "sender@example.org"


@pytest.fixture
def settings_overrides():
    return {"smtp_url": "smtp://relay:pw@mail.example.org:587", "mail_from": "m@example.org",
            "webhook_url": "https://ops.example.org/hook", "webhook_secret": "x" * 32,
            "notice_retry": 10}


@pytest.fixture
def outbox(monkeypatch):
    """What the courier would have mailed and posted; ``fail`` makes both raise it."""
    sent = {"mail": [], "hook": [], "fail": None}

    def send(server, message):
        if sent["fail"]:
            raise sent["fail"]
        sent["mail"].append(message)

    def post(url, secret, notice):
        if sent["fail"]:
            raise sent["fail"]
        sent["hook"].append(notice)

    monkeypatch.setattr(mail, "send", send)
    monkeypatch.setattr(webhook, "post", post)
    return sent


def read_one(client, **fields):
    made = make_secret(client, notify_email=ADDRESS, **fields)
    assert client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs()).status_code == 200
    return made


def test_a_view_is_mailed_and_posted_once(app, client, clock, outbox):
    made = read_one(client)
    courier = Courier(app_rules(app), clock)
    assert courier.run_once() == 2
    assert courier.run_once() == 0
    assert [str(m["To"]) for m in outbox["mail"]] == [ADDRESS]
    assert [(n.secret_id, n.state) for n in outbox["hook"]] == [(made.id, "read")]
    assert app_rules(app).storage.counters()["notices_sent"] == 2


def seconds_until_due(courier, clock) -> float:
    """Move the clock a second at a time until the courier finds something due."""
    start = clock.now
    while courier.run_once() == 0:
        clock.advance(1)
    return clock.now - start


def test_a_failed_delivery_is_retried_later_and_later(app, client, clock, outbox):
    read_one(client)
    courier = Courier(app_rules(app), clock)
    outbox["fail"] = ConnectionRefusedError()
    assert courier.run_once() == 2
    assert [seconds_until_due(courier, clock) for _ in range(3)] == [10, 20, 40]
    outbox["fail"] = None
    assert seconds_until_due(courier, clock) == 80
    assert len(outbox["mail"]) == 1 and len(outbox["hook"]) == 1
    assert app_rules(app).storage.counters()["notices_sent"] == 2


def test_backoff_doubles_up_to_an_hour(app):
    courier = Courier(app_rules(app))
    assert [courier.backoff(n) for n in (1, 2, 3)] == [10, 20, 40]
    assert courier.backoff(40) == worker.LONGEST_WAIT


def test_a_notice_undeliverable_for_a_day_is_dropped_and_counted(app, client, clock, outbox):
    read_one(client)
    courier = Courier(app_rules(app), clock)
    outbox["fail"] = smtplib.SMTPServerDisconnected("gone")
    clock.advance(worker.GIVE_UP)
    assert courier.run_once() == 2
    clock.advance(worker.LONGEST_WAIT * 2)
    assert courier.run_once() == 0
    assert app_rules(app).storage.counters()["notices_dropped"] == 2


def test_a_refused_address_is_dropped_at_once_and_never_logged(app, client, clock, outbox,
                                                               caplog):
    read_one(client)
    courier = Courier(app_rules(app), clock)
    outbox["fail"] = smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"no such user " + b"x")})
    with caplog.at_level(logging.WARNING):
        courier.run_once()
    # The address is refused for good; the webhook's event only waits for its retry.
    assert app_rules(app).storage.counters()["notices_dropped"] == 1
    assert caplog.records and ADDRESS not in caplog.text


def test_the_worker_purges_so_an_untouched_expiry_is_noticed(app, client, clock, outbox):
    made = make_secret(client, notify_email=ADDRESS, expires_in=300)
    clock.advance(301)
    rules = app_rules(app)
    rules.purge_now_and_then(clock())
    courier = Courier(rules, clock)
    courier.run_once()
    assert [n.state for n in outbox["hook"]] == ["expired"]
    assert outbox["hook"][0].secret_id == made.id
    assert "without being read" in outbox["mail"][0].get_content()
