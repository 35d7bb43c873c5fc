"""Operators' endpoints and failure behaviour: /healthz, /metrics, OpenAPI, 503s."""

from __future__ import annotations

import json
import os

import pytest
from jsonschema import ValidationError
from openapi_spec_validator import validate

from mayfly import app_rules
from mayfly.crypto import b64encode
from mayfly.errors import StorageUnavailable

from .helpers import KDF, create_body, make_secret
from .test_api import assert_problem, reveal


@pytest.mark.every_backend
def test_healthz_answers_ok_when_storage_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


@pytest.fixture
def broken_storage(app, monkeypatch):
    """Every storage call fails as if the database were unreachable."""
    storage = app_rules(app).storage

    def unavailable(*args, **kwargs):
        raise StorageUnavailable()

    for name in ("create", "lookup", "take", "fail", "burn", "receipt", "purge", "counters",
                 "ping"):
        monkeypatch.setattr(storage, name, unavailable)
    return storage


def test_storage_down_is_a_503_problem_everywhere(client, broken_storage):
    assert_problem(client.get("/healthz"), 503, "storage-unavailable")
    made_id = "A" * 24
    assert_problem(client.get(f"/api/v1/secrets/{made_id}"), 503)
    assert_problem(client.post("/api/v1/secrets", json={
        "ciphertext": "AQ" + "A" * 60, "link_proof_hash": "A" * 43,
        "access_proof_hash": "A" * 43, "kdf": None}), 503)
    assert_problem(client.get("/metrics"), 503)


def test_an_unexpected_error_is_a_500_problem_without_traceback(app, client, monkeypatch):
    def boom(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app_rules(app).storage, "lookup", boom)
    problem = assert_problem(client.get("/api/v1/secrets/" + "A" * 24), 500)
    assert "secret internals" not in json.dumps(problem)
    assert "Traceback" not in json.dumps(problem)


@pytest.mark.every_backend
def test_metrics_count_outcomes_and_never_show_ids(client):
    made = [make_secret(client, kdf=KDF) for _ in range(3)]
    reveal(client, made[0])
    reveal(client, made[1], access=os.urandom(32))
    client.delete(f"/api/v1/secrets/{made[2].id}", headers=made[2].auth())
    text = client.get("/metrics").get_data(as_text=True)
    assert "mayfly_secrets_created_total 3.0" in text
    assert "mayfly_views_revealed_total 1.0" in text
    assert "mayfly_failed_attempts_total 1.0" in text
    assert "mayfly_secrets_burned_by_sender_total 1.0" in text
    assert all(m.id not in text for m in made)


@pytest.mark.every_backend
def test_metrics_count_requests_answers_and_reads_never_ids(client):
    from .test_api_requests import answer, make_request

    made = [make_request(client) for _ in range(3)]
    for request in made[:2]:
        assert answer(client, request).status_code == 201
    read = client.post(f"/api/v1/secrets/{made[0]['id']}/replies/1/reveal",
                       headers=made[0]["auth"])
    assert read.status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert "mayfly_requests_created_total 3.0" in text
    assert "mayfly_requests_answered_total 2.0" in text
    assert "mayfly_answers_read_total 1.0" in text
    assert "mayfly_secrets_created_total 0.0" in text  # a request is no message
    assert all(request["id"] not in text and request["manage_token"] not in text
               for request in made)


@pytest.mark.parametrize("settings_overrides", [{"metrics": False}])
def test_metrics_can_be_switched_off(client, settings_overrides):
    assert client.get("/metrics").status_code == 404


def openapi_document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_is_valid_openapi_3_1(client):
    document = openapi_document(client)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_openapi_document_lists_exactly_the_api_routes(app, client):
    documented = {
        (path, method.upper())
        for path, item in openapi_document(client)["paths"].items()
        for method in item if method in {"get", "post", "put", "delete", "patch"}
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") or rule.rule in {"/healthz", "/metrics"}:
            path = rule.rule.replace("<secret_id>", "{id}").replace("<request_id>", "{id}") \
                .replace("<int:number>", "{number}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def conforms(document: dict, schema_name: str, instance) -> None:
    """Validate a response body against a schema of the OpenAPI document."""
    from jsonschema import Draft202012Validator

    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    Draft202012Validator(schema).validate(instance)


def test_real_responses_conform_to_the_openapi_schemas(client):
    document = openapi_document(client)
    made = make_secret(client, kdf=KDF, max_views=2)
    conforms(document, "Created", made.response)
    conforms(document, "Metadata", client.get(f"/api/v1/secrets/{made.id}").get_json())
    conforms(document, "Revealed", reveal(client, made).get_json())
    receipt = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    conforms(document, "Receipt", receipt)
    conforms(document, "Problem", reveal(client, made, access=os.urandom(32)).get_json())
    conforms(document, "Problem", client.post("/api/v1/secrets", json={"x": 1}).get_json())


ENVELOPE = b"\x01" + bytes(40)
GOOD = create_body(ENVELOPE, bytes(32), bytes(32))
# Bodies the server refuses whatever its settings; each must be refused by the schema too.
REFUSED = [
    {**GOOD, "extra": 1},
    {k: v for k, v in GOOD.items() if k != "ciphertext"},
    {**GOOD, "ciphertext": ""},
    {**GOOD, "ciphertext": "not base64!"},
    {**GOOD, "ciphertext": b64encode(ENVELOPE) + "="},
    {**GOOD, "ciphertext": b64encode(ENVELOPE)[:-1] + "B"},  # non-canonical last character
    {**GOOD, "ciphertext": b64encode(ENVELOPE) + "AA"},  # a length base64 never has
    {**GOOD, "ciphertext": b64encode(b"\x01abc")},
    {**GOOD, "ciphertext": b64encode(b"\x09" + bytes(40))},
    {**GOOD, "ciphertext": 12},
    {**GOOD, "link_proof_hash": b64encode(bytes(31))},
    {**GOOD, "link_proof_hash": b64encode(bytes(32))[:-1] + "B"},
    {**GOOD, "access_proof_hash": None},
    {**GOOD, "expires_in": 0},
    {**GOOD, "expires_in": 10**30},
    {**GOOD, "expires_in": "3600"},
    {**GOOD, "max_views": 0},
    {**GOOD, "max_views": 101},
    {**GOOD, "max_views": True},
    {**GOOD, "kdf": "PBKDF2"},
    {**GOOD, "kdf": {**KDF, "iterations": 1000}},
    {**GOOD, "kdf": {**KDF, "salt": b64encode(bytes(8))}},
    {**GOOD, "kdf": {**KDF, "salt": b64encode(bytes(65))}},
    {**GOOD, "kdf": {**KDF, "salt": b64encode(bytes(16))[:-1] + "B"}},
    {**GOOD, "kdf": {**KDF, "name": "scrypt"}},
    {**GOOD, "kdf": {**KDF, "pepper": 1}},
]
REFUSED_PROOFS = [
    {}, {"link_proof": "AA"}, {"link_proof": b64encode(bytes(32))},
    {"link_proof": b64encode(bytes(32)), "access_proof": b64encode(bytes(32)), "x": 1},
    {"link_proof": b64encode(bytes(33)), "access_proof": b64encode(bytes(32))},
    {"link_proof": b64encode(bytes(32))[:-1] + "B", "access_proof": b64encode(bytes(32))},
    {"link_proof": b64encode(bytes(32)), "access_proof": b64encode(bytes(32))[:-1] + "F"},
]


@pytest.mark.parametrize("body", REFUSED)
def test_create_bodies_the_server_refuses_are_schema_invalid(client, body):
    assert client.post("/api/v1/secrets", json=body).status_code in {400, 413}
    with pytest.raises(ValidationError):
        conforms(openapi_document(client), "NewSecret", body)


@pytest.mark.parametrize("body", REFUSED_PROOFS)
def test_reveal_bodies_the_server_refuses_are_schema_invalid(client, body):
    made = make_secret(client)
    assert client.post(f"/api/v1/secrets/{made.id}/reveal", json=body).status_code == 400
    with pytest.raises(ValidationError):
        conforms(openapi_document(client), "Proofs", body)


@pytest.mark.parametrize("body", [
    GOOD, create_body(b"\x01" + bytes(28), bytes(32), bytes(32), kdf=KDF, max_views=100),
    create_body(b"\x01" + os.urandom(1000), os.urandom(32), os.urandom(32),
                kdf={**KDF, "salt": b64encode(os.urandom(64))}, expires_in=300),
])
def test_create_bodies_the_server_accepts_are_schema_valid(client, body):
    assert client.post("/api/v1/secrets", json=body).status_code == 201
    conforms(openapi_document(client), "NewSecret", body)
    made = make_secret(client)
    conforms(openapi_document(client), "Proofs", made.proofs())


def test_reply_responses_conform_to_the_openapi_schemas(client):
    from mayfly import crypto

    document = openapi_document(client)
    pair = crypto.new_reply_keys(bytes(32))
    reply_key = {"public_key": b64encode(pair.public_key),
                 "wrapped_private_key": b64encode(pair.wrapped_private_key)}
    made = make_secret(client, reply_key=reply_key)
    conforms(document, "Revealed", reveal(client, made).get_json())
    proof = {"link_proof": b64encode(made.link_proof)}
    found = client.post(f"/api/v1/secrets/{made.id}/reply-key", json=proof).get_json()
    conforms(document, "ReplyKeyFound", found)
    blob = crypto.seal_reply(pair.public_key, crypto.pack(crypto.Message("ok")))
    posted = client.post(f"/api/v1/secrets/{made.id}/replies",
                         json={**proof, "ciphertext": b64encode(blob)})
    conforms(document, "ReplyPosted", posted.get_json())
    conforms(document, "Problem", client.post(f"/api/v1/secrets/{made.id}/replies",
                                              json={**proof, "ciphertext": b64encode(blob)})
             .get_json())
    receipt = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    conforms(document, "Receipt", receipt)
    taken = client.post(f"/api/v1/secrets/{made.id}/replies/1/reveal", headers=made.auth())
    conforms(document, "RevealedReply", taken.get_json())


def test_request_responses_conform_to_the_openapi_schemas(client):
    from .test_api_requests import answer, make_request, proofs

    document = openapi_document(client)
    made = make_request(client)
    conforms(document, "RequestCreated", {k: v for k, v in made.items()
                                          if k not in {"keys", "auth"}})
    conforms(document, "RequestMetadata", client.get(f"/api/v1/requests/{made['id']}")
             .get_json())
    opened = client.post(f"/api/v1/requests/{made['id']}/open", json=proofs(made))
    conforms(document, "OpenedRequest", opened.get_json())
    conforms(document, "Proofs", proofs(made))
    conforms(document, "NewAnswer", {**proofs(made), "ciphertext": b64encode(
        b"\x04" + bytes(64) + b"\x01" + bytes(28))})
    conforms(document, "ReplyPosted", answer(client, made).get_json())
    conforms(document, "Problem", answer(client, made).get_json())
    receipt = client.get(f"/api/v1/secrets/{made['id']}/receipt", headers=made["auth"])
    conforms(document, "Receipt", receipt.get_json())
    assert receipt.get_json()["state"] == "answered"
