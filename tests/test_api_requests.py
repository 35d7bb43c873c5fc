"""Requests for a secret through the JSON API: one answer, atomically; read once."""

from __future__ import annotations

import os

import pytest

from mayfly import crypto
from mayfly.crypto import b64decode, b64encode

from .helpers import KDF
from .test_api import assert_problem
from .test_api_replies import PAIR, RECEIPT_KEY, REPLY_KEY

LINK_KEY = bytes(range(100, 132))


def make_request(client, passphrase: str | None = None, **fields) -> dict:
    """Create a request as a client would; return the response with the keys it used."""
    kdf = crypto.Kdf(bytes(16)) if passphrase else None
    keys = crypto.derive_keys(LINK_KEY, passphrase, kdf)
    note = crypto.seal(keys.content_key, crypto.pack(crypto.Message("the staging password?")))
    body = {"ciphertext": b64encode(note),
            "link_proof_hash": b64encode(crypto.proof_hash(keys.link_proof)),
            "access_proof_hash": b64encode(crypto.proof_hash(keys.access_proof)),
            "kdf": KDF if passphrase else None, "reply_key": REPLY_KEY, **fields}
    response = client.post("/api/v1/requests", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return {**response.get_json(), "keys": keys,
            "auth": {"Authorization": f"Bearer {response.get_json()['manage_token']}"}}


def proofs(made: dict, link: bytes | None = None, access: bytes | None = None) -> dict:
    return {"link_proof": b64encode(link or made["keys"].link_proof),
            "access_proof": b64encode(access or made["keys"].access_proof)}


def answer(client, made: dict, text: str = "hunter2", **wrong):
    blob = crypto.seal_reply(PAIR.public_key, crypto.pack(crypto.Message(text)))
    return client.post(f"/api/v1/requests/{made['id']}/answer",
                       json={**proofs(made, **wrong), "ciphertext": b64encode(blob)})


def receipt(client, made: dict) -> dict:
    return client.get(f"/api/v1/secrets/{made['id']}/receipt", headers=made["auth"]).get_json()


@pytest.mark.every_backend
def test_a_request_is_answered_once_and_its_answer_read_once(client):
    made = make_request(client)
    assert made["url"].endswith(f"/q/{made['id']}")
    assert made["answer_url"].endswith(f"/a/{made['id']}")
    for _ in range(3):  # several people may look: opening spends nothing
        opened = client.post(f"/api/v1/requests/{made['id']}/open", json=proofs(made))
        assert opened.status_code == 200
        assert opened.headers["Cache-Control"].startswith("no-store")
    note = crypto.unseal(made["keys"].content_key, b64decode(opened.get_json()["note"]))
    assert crypto.unpack(note).text == "the staging password?"
    assert opened.get_json()["public_key"] == REPLY_KEY["public_key"]
    assert receipt(client, made)["state"] == "waiting"
    assert (answer(client, made, "生产密码 hunter2").status_code, ) == (201, )
    assert_problem(answer(client, made, "too late"), 409, "already-answered")
    assert_problem(client.post(f"/api/v1/requests/{made['id']}/open", json=proofs(made)),
                   409, "already-answered")
    seen = receipt(client, made)
    assert (seen["kind"], seen["state"], seen["reply_key"]) == ("request", "answered", REPLY_KEY)
    taken = client.post(f"/api/v1/secrets/{made['id']}/replies/1/reveal", headers=made["auth"])
    scalar = crypto.unwrap_reply_key(RECEIPT_KEY, PAIR.wrapped_private_key)
    opened_answer = crypto.open_reply(scalar, PAIR.public_key,
                                      b64decode(taken.get_json()["ciphertext"]))
    assert crypto.unpack(opened_answer).text == "生产密码 hunter2"
    assert_problem(client.post(f"/api/v1/secrets/{made['id']}/replies/1/reveal",
                               headers=made["auth"]), 404, "gone")
    assert receipt(client, made)["state"] == "read"
    assert_problem(client.get(f"/api/v1/requests/{made['id']}"), 404, "gone")


def test_an_id_alone_opens_and_answers_nothing(client):
    made = make_request(client)
    wrong = os.urandom(32)
    assert_problem(client.post(f"/api/v1/requests/{made['id']}/open",
                               json=proofs(made, link=wrong)), 403, "forbidden")
    assert_problem(answer(client, made, link=wrong), 403, "forbidden")
    assert receipt(client, made)["state"] == "waiting"
    assert answer(client, made).status_code == 201


def test_a_passphrase_is_checked_and_wrong_guesses_are_counted(client):
    made = make_request(client, passphrase="correct horse")
    meta = client.get(f"/api/v1/requests/{made['id']}").get_json()
    assert (meta["passphrase"], meta["kdf"], meta["attempts_left"]) == (True, KDF, 5)
    problem = assert_problem(answer(client, made, access=os.urandom(32)), 403,
                             "wrong-passphrase")
    assert problem["attempts_left"] == 4
    assert_problem(client.post(f"/api/v1/requests/{made['id']}/open",
                               json=proofs(made, access=os.urandom(32))), 403)
    assert client.get(f"/api/v1/requests/{made['id']}").get_json()["attempts_left"] == 3
    assert answer(client, made).status_code == 201
    # Answered: a wrong guess now is told "answered" and cannot burn the answer.
    assert_problem(answer(client, made, access=os.urandom(32)), 409, "already-answered")
    assert receipt(client, made)["failed_attempts"] == 2


def test_a_request_and_a_secret_do_not_mix(client):
    made = make_request(client)
    reveal = client.post(f"/api/v1/secrets/{made['id']}/reveal", json=proofs(made))
    assert_problem(reveal, 404, "gone")
    assert_problem(client.get(f"/api/v1/secrets/{made['id']}"), 404)
    reply = client.post(f"/api/v1/secrets/{made['id']}/replies",
                        json={"link_proof": proofs(made)["link_proof"],
                              "ciphertext": b64encode(crypto.seal_reply(
                                  PAIR.public_key, b"x"))})
    assert_problem(reply, 404)
    assert_problem(client.get(f"/api/v1/requests/{'A' * 24}"), 404)


def test_a_request_needs_a_reply_key_and_takes_no_view_count(client):
    made = make_request(client)
    body = {"ciphertext": b64encode(b"\x01" + bytes(40)), "link_proof_hash": b64encode(bytes(32)),
            "access_proof_hash": b64encode(bytes(32))}
    assert_problem(client.post("/api/v1/requests", json=body), 400, "invalid-input")
    with_views = {**body, "reply_key": REPLY_KEY, "max_views": 2}
    assert_problem(client.post("/api/v1/requests", json=with_views), 400, "invalid-input")
    assert_problem(client.post(f"/api/v1/requests/{made['id']}/answer",
                               json={**proofs(made), "ciphertext": "AQ"}), 400)


def test_an_expired_request_is_gone_for_answerer_and_requester(client, clock):
    made = make_request(client, expires_in=300)
    assert answer(client, made).status_code == 201
    clock.advance(300)
    assert_problem(answer(client, made), 404, "gone")
    assert receipt(client, made)["state"] == "expired"
    assert_problem(client.post(f"/api/v1/secrets/{made['id']}/replies/1/reveal",
                               headers=made["auth"]), 404, "gone")


def test_the_requester_may_burn_the_request_and_its_answer(client):
    made = make_request(client)
    assert answer(client, made).status_code == 201
    assert client.delete(f"/api/v1/secrets/{made['id']}", headers=made["auth"]).status_code == 204
    assert receipt(client, made)["state"] == "burned"
    assert_problem(client.post(f"/api/v1/secrets/{made['id']}/replies/1/reveal",
                               headers=made["auth"]), 404)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_create": "2/minute",
                                                 "rate_limit_reveal": "2/minute"}])
def test_asking_opening_and_answering_are_rate_limited(client, settings_overrides):
    made = make_request(client)
    assert make_request(client)["id"]
    assert_problem(client.post("/api/v1/requests", json={}), 429)  # asking, like creating
    opens = [client.post(f"/api/v1/requests/{made['id']}/open", json=proofs(made))
             for _ in range(3)]
    assert [r.status_code for r in opens[:2]] == [200, 200]
    assert_problem(opens[2], 429)  # opening, like a reveal
    assert answer(client, made).status_code == 201
    assert_problem(answer(client, made), 409, "already-answered")
    assert_problem(answer(client, made), 429)  # answering has a budget of its own
