"""The API's notify_email (issue #12): refused without SMTP, checked, kept with its language."""

from __future__ import annotations

import pytest

from mayfly import app_rules

from .helpers import create_body, make_secret
from .test_api import ENVELOPE, assert_problem

SMTP = {"smtp_url": "smtps://relay:pw@mail.example.org", "mail_from": "mayfly@example.org"}


def create(client, headers=None, **fields):
    body = create_body(ENVELOPE, bytes(32), bytes(32), **fields)
    return client.post("/api/v1/secrets", json=body, headers=headers or {})


def queued(app, secret_id):
    """The notices queued for a secret, claimed far in the future (so all are due)."""
    notices = app_rules(app).storage.claim_notices(4e9, 4e9 + 1, 100)
    return [n for n in notices if n.secret_id == secret_id]


def test_without_smtp_a_notify_address_is_refused(client):
    problem = assert_problem(create(client, notify_email="sender@example.org"), 400,
                             "invalid-input")
    assert problem["field"] == "notify_email" and "SMTP" in problem["detail"]
    assert create(client, notify_email=None).status_code == 201


@pytest.mark.parametrize("settings_overrides", [SMTP])
@pytest.mark.parametrize("value", ["nobody", "a@b", 42, ["x@example.org"],
                                   "x@example.org\nBcc: y@example.org", "x" * 250 + "@ex.org"])
def test_a_bad_address_is_refused_without_being_repeated(client, value):
    problem = assert_problem(create(client, notify_email=value), 400, "invalid-input")
    assert problem["field"] == "notify_email"
    assert str(value) not in str(problem)


@pytest.mark.parametrize("settings_overrides", [SMTP])
@pytest.mark.every_backend
def test_a_notice_speaks_the_language_of_the_senders_request(app, client):
    made = make_secret(client, notify_email="sender@example.org")
    client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs())
    client.set_cookie("mayfly_lang", "zh_CN")
    chinese = make_secret(client, notify_email="sender@example.org")
    client.post(f"/api/v1/secrets/{chinese.id}/reveal", json=chinese.proofs())
    notices = app_rules(app).storage.claim_notices(4e9, 4e9 + 1, 100)
    [english] = [n for n in notices if n.secret_id == made.id]
    [zh] = [n for n in notices if n.secret_id == chinese.id]
    assert (english.language, zh.language) == ("en", "zh_CN")
    assert english.address == "sender@example.org"


@pytest.mark.parametrize("settings_overrides", [SMTP])
@pytest.mark.every_backend
def test_without_an_address_a_reveal_queues_nothing(app, client):
    made = make_secret(client)
    client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs())
    assert queued(app, made.id) == []


def test_the_compose_page_offers_notices_only_with_smtp(client, app):
    assert 'data-testid="notify-email"' not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("settings_overrides", [SMTP])
def test_the_compose_page_has_the_address_field_with_smtp(client):
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="notify-email"' in page and 'type="email"' in page
