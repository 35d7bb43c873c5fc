"""The operator's webhook event: its body, its signature, whom it trusts."""

from __future__ import annotations

import hashlib
import hmac
import json

from mayfly.notices.webhook import body, signature, trusted_cas
from mayfly.storage.base import Notice


def test_the_event_holds_id_state_time_and_event_id_only():
    notice = Notice(key="k", event_id="abc:failed", channel="webhook", secret_id="abc",
                    state="failed", at=1_800_000_000.4, views_left=1, created_at=1.0,
                    queued_at=2.0, attempts=1, address=None)
    assert json.loads(body(notice)) == {"event_id": "abc:failed", "id": "abc",
                                        "state": "failed", "time": "2027-01-15T08:00:00Z",
                                        "views_left": 1}


def test_the_signature_is_the_hmac_sha256_of_the_body():
    payload = b'{"id":"abc"}'
    expected = hmac.new(b"operator-secret", payload, hashlib.sha256).hexdigest()
    assert signature("operator-secret", payload) == "sha256=" + expected
    assert signature("another-secret!!", payload) != "sha256=" + expected


def test_the_webhook_trusts_the_cas_the_smtp_client_trusts(tmp_path, monkeypatch):
    # SSL_CERT_FILE moves OpenSSL's (and so smtplib's) store; the webhook follows it.
    bundle = tmp_path / "operator-cas.pem"
    bundle.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert trusted_cas() == str(bundle)
