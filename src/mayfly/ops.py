"""For operators: /healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily

from . import app_rules
from .errors import SecretGone

bp = Blueprint("ops", __name__)

HELP = {
    "secrets_created": "Messages stored (requests are counted apart).",
    "views_revealed": "Views handed out (ciphertexts revealed).",
    "secrets_read": "Secrets destroyed after their last view.",
    "secrets_expired_unread": "Secrets that expired without being read "
                              "(expired requests included).",
    "secrets_burned_by_sender": "Secrets burned early by their sender "
                                "(requests burned by their asker included).",
    "secrets_burned_by_attempts": "Secrets burned after too many wrong passphrases.",
    "failed_attempts": "Wrong passphrases submitted.",
    "replies_posted": "Replies stored for a sender.",
    "replies_read": "Replies read (and destroyed) by their sender.",
    "requests_created": "Requests for a secret stored.",
    "requests_answered": "Requests answered (the one answer stored).",
    "answers_read": "Answers read (and destroyed) by their asker.",
    "notices_sent": "Notices delivered (emails to senders, webhook events).",
    "notices_dropped": "Notices given up on: undeliverable for a day, or refused for good.",
}


class _StorageCounters:
    """A Prometheus collector reading the counters the storage keeps for all workers."""

    def __init__(self, counts: dict[str, int]):
        self.counts = counts

    def collect(self):
        for name, value in self.counts.items():
            family = CounterMetricFamily(f"mayfly_{name}", HELP[name])
            family.add_metric([], value)
            yield family


@bp.get("/healthz")
def healthz():
    """200 when the storage answers, 503 (problem+json) when it does not."""
    app_rules().storage.ping()
    return jsonify({"status": "ok"})


@bp.get("/metrics")
def metrics():
    """Counts only, in Prometheus text format: never an id."""
    rules = app_rules()
    if not rules.settings.metrics:
        raise SecretGone()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StorageCounters(rules.storage.counters()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


@bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of /api/v1."""
    document = files("mayfly").joinpath("openapi.json").read_bytes()
    return Response(document, mimetype="application/json")
