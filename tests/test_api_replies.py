"""Replies through the JSON API, on every storage backend."""

from __future__ import annotations

import os

import pytest

from mayfly import crypto
from mayfly.crypto import b64decode, b64encode

from .helpers import make_secret
from .test_api import assert_problem, reveal

RECEIPT_KEY = bytes(range(32))
PAIR = crypto.new_reply_keys(RECEIPT_KEY)
REPLY_KEY = {"public_key": b64encode(PAIR.public_key),
             "wrapped_private_key": b64encode(PAIR.wrapped_private_key)}


def sealed_reply(text: str = "thanks") -> bytes:
    return crypto.seal_reply(PAIR.public_key, crypto.pack(crypto.Message(text)))


def post_reply(client, made, blob: bytes | None = None, link_proof: bytes | None = None):
    body = {"link_proof": b64encode(link_proof or made.link_proof),
            "ciphertext": b64encode(sealed_reply() if blob is None else blob)}
    return client.post(f"/api/v1/secrets/{made.id}/replies", json=body)


def receipt(client, made) -> dict:
    return client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()


def reveal_reply(client, made, number: int, token: str | None = None):
    return client.post(f"/api/v1/secrets/{made.id}/replies/{number}/reveal",
                       headers=made.auth(token))


def test_a_reply_goes_to_the_sender_and_opens_with_the_receipt_key(client):
    made = make_secret(client, reply_key=REPLY_KEY)
    revealed = reveal(client, made).get_json()
    assert revealed["reply_public_key"] == REPLY_KEY["public_key"]
    assert receipt(client, made)["replies_left"] == 1
    posted = post_reply(client, made, sealed_reply("收到, thanks"))
    assert (posted.status_code, posted.get_json()) == (201, {"number": 1})
    seen = receipt(client, made)
    assert seen["reply_key"] == REPLY_KEY
    assert [(r["number"], r["read_at"]) for r in seen["replies"]] == [(1, None)]
    taken = reveal_reply(client, made, 1)
    assert taken.status_code == 200 and taken.headers["Cache-Control"].startswith("no-store")
    scalar = crypto.unwrap_reply_key(RECEIPT_KEY, b64decode(seen["reply_key"]
                                                            ["wrapped_private_key"]))
    opened = crypto.open_reply(scalar, PAIR.public_key, b64decode(taken.get_json()["ciphertext"]))
    assert crypto.unpack(opened).text == "收到, thanks"
    assert_problem(reveal_reply(client, made, 1), 404, "gone")
    assert receipt(client, made)["replies"][0]["read_at"] is not None


def test_one_reply_per_view_then_409(client):
    made = make_secret(client, reply_key=REPLY_KEY, max_views=2)
    assert_problem(post_reply(client, made), 409, "no-replies-left")  # not read yet
    reveal(client, made)
    assert post_reply(client, made).status_code == 201
    assert_problem(post_reply(client, made), 409, "no-replies-left")
    reveal(client, made)
    assert post_reply(client, made).get_json() == {"number": 2}
    assert_problem(post_reply(client, made), 409, "no-replies-left")


def test_an_id_alone_posts_nothing_and_uses_no_grant(client):
    made = make_secret(client, reply_key=REPLY_KEY)
    reveal(client, made)
    assert_problem(post_reply(client, made, link_proof=os.urandom(32)), 403, "forbidden")
    assert_problem(client.post(f"/api/v1/secrets/{made.id}/reply-key",
                               json={"link_proof": b64encode(os.urandom(32))}), 403)
    assert receipt(client, made)["replies_left"] == 1
    assert post_reply(client, made).status_code == 201


def test_the_reply_key_is_given_to_a_link_holder_after_the_message_is_gone(client):
    made = make_secret(client, reply_key=REPLY_KEY)
    reveal(client, made)
    assert_problem(reveal(client, made), 404)
    found = client.post(f"/api/v1/secrets/{made.id}/reply-key",
                        json={"link_proof": b64encode(made.link_proof)})
    assert found.get_json() == {"public_key": REPLY_KEY["public_key"], "replies_left": 1}


def test_a_message_without_replies_takes_none(client):
    made = make_secret(client)
    revealed = reveal(client, made).get_json()
    assert revealed["reply_public_key"] is None
    assert_problem(post_reply(client, made), 404, "gone")
    seen = receipt(client, made)
    assert (seen["reply_key"], seen["replies"], seen["replies_left"]) == (None, [], 0)


def test_reading_a_reply_needs_the_manage_token(client):
    made = make_secret(client, reply_key=REPLY_KEY)
    reveal(client, made)
    post_reply(client, made)
    assert_problem(client.post(f"/api/v1/secrets/{made.id}/replies/1/reveal"), 401)
    assert_problem(reveal_reply(client, made, 1, token="x" * 43), 404)  # as for a missing id
    assert reveal_reply(client, made, 1).status_code == 200


def test_replies_live_no_longer_than_the_receipt(client, clock, app):
    made = make_secret(client, reply_key=REPLY_KEY, expires_in=300)
    reveal(client, made)
    post_reply(client, made)
    clock.advance(300 + app.extensions["mayfly"].settings.receipt_retention)
    assert_problem(reveal_reply(client, made, 1), 404)
    assert_problem(post_reply(client, made), 404)


@pytest.mark.parametrize(("reply_key", "field"), [
    ({"public_key": REPLY_KEY["public_key"]}, "reply_key"),
    ({**REPLY_KEY, "extra": 1}, "reply_key"),
    ({**REPLY_KEY, "public_key": b64encode(b"\x04" + bytes(64))}, "reply_key"),
    ({**REPLY_KEY, "public_key": b64encode(bytes(65))}, "reply_key"),
    ({**REPLY_KEY, "wrapped_private_key": b64encode(bytes(61))}, "reply_key"),
    ({**REPLY_KEY, "wrapped_private_key": b64encode(b"\x01" + bytes(10))}, "wrapped_private_key"),
    ("yes", "reply_key"),
])
def test_a_malformed_reply_key_is_a_400(client, reply_key, field):
    from .helpers import create_body

    body = create_body(b"\x01" + bytes(40), bytes(32), bytes(32), reply_key=reply_key)
    problem = assert_problem(client.post("/api/v1/secrets", json=body), 400, "invalid-input")
    assert problem["field"] == field


@pytest.mark.parametrize("blob", [
    b"", b"\x01" + bytes(100), b"\x04" + bytes(64) + b"\x02" + bytes(40), b"\x04" + bytes(70)])
def test_a_reply_that_is_not_a_reply_envelope_is_a_400(client, blob):
    made = make_secret(client, reply_key=REPLY_KEY)
    reveal(client, made)
    assert_problem(post_reply(client, made, blob), 400, "invalid-input")
    assert receipt(client, made)["replies_left"] == 1


@pytest.mark.parametrize("settings_overrides", [{"max_ciphertext_bytes": 2000}])
def test_a_reply_over_the_size_limit_is_a_413(client, settings_overrides):
    made = make_secret(client, reply_key=REPLY_KEY)
    reveal(client, made)
    assert_problem(post_reply(client, made, sealed_reply("x" * 2000)), 413)
    assert post_reply(client, made, sealed_reply("x" * 1800)).status_code == 201


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_create": "2/minute",
                                                 "rate_limit_reveal": "2/minute"}])
def test_posting_and_reading_replies_are_rate_limited(client, settings_overrides):
    made = make_secret(client, reply_key=REPLY_KEY, max_views=2)
    reveal(client, made)
    reveal(client, made)
    assert post_reply(client, made).status_code == 201
    assert post_reply(client, made).status_code == 201
    assert_problem(post_reply(client, made), 429)
    assert reveal_reply(client, made, 1).status_code == 200
    assert reveal_reply(client, made, 2).status_code == 200
    assert_problem(reveal_reply(client, made, 2), 429)
