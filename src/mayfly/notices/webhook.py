"""The operator's webhook: one signed JSON event per change, never content or addresses."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from datetime import UTC, datetime

import requests

from ..storage.base import Notice

SIGNATURE_HEADER = "X-Mayfly-Signature"
TIMEOUT = 10.0


class WebhookRefused(Exception):
    """The webhook answered, but not with a 2xx."""


def body(notice: Notice) -> bytes:
    """The event as JSON: the secret's id, its state, when, and the event's id."""
    moment = datetime.fromtimestamp(notice.at, UTC).replace(microsecond=0)
    return json.dumps({
        "event_id": notice.event_id,
        "id": notice.secret_id,
        "state": notice.state,
        "time": moment.isoformat().replace("+00:00", "Z"),
        "views_left": notice.views_left,
    }, separators=(",", ":")).encode()


def signature(secret: str, payload: bytes) -> str:
    """The header's value: sha256= and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def trusted_cas() -> str | bool:
    """The CA certificates the SMTP client trusts too: the system's (or SSL_CERT_FILE).

    requests would use its own list (certifi), and a private CA the operator added
    with update-ca-certificates would then count for mail but not for the webhook.
    True (requests' list) where the system has no CA file (a container without
    ca-certificates), rather than an empty store that would trust nobody.
    """
    return ssl.get_default_verify_paths().cafile or True


def post(url: str, secret: str, notice: Notice) -> None:
    """POST one event; anything but a 2xx (or no answer) raises."""
    payload = body(notice)
    answer = requests.post(url, data=payload, timeout=TIMEOUT, allow_redirects=False,
                           verify=trusted_cas(), headers={
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, payload),
        "X-Mayfly-Event-Id": notice.event_id,
    })
    if not 200 <= answer.status_code < 300:
        raise WebhookRefused(f"the webhook answered {answer.status_code}")
