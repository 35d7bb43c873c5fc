"""The receipt's conditional answer: an ETag, and 304 while nothing has changed."""

from __future__ import annotations

import os

import pytest

from .helpers import KDF, make_secret
from .test_api import assert_problem, reveal
from .test_api_replies import REPLY_KEY, post_reply, reveal_reply


def receipt(client, made, tag: str | None = None, token: str | None = None):
    headers = made.auth(token)
    if tag is not None:
        headers["If-None-Match"] = tag
    return client.get(f"/api/v1/secrets/{made.id}/receipt", headers=headers)


def assert_unchanged(response, tag: str) -> None:
    """A 304: no body, the same tag, and still never stored by anyone."""
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == tag
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.every_backend
def test_an_unchanged_receipt_answers_304_with_its_tag(client):
    made = make_secret(client)
    first = receipt(client, made)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    assert first.headers["Cache-Control"] == "no-store"
    assert_unchanged(receipt(client, made, tag), tag)
    assert_unchanged(receipt(client, made, f'"other", {tag}'), tag)


@pytest.mark.every_backend
def test_a_reveal_changes_the_tag_and_brings_the_whole_receipt(client, clock):
    made = make_secret(client, max_views=2)
    tag = receipt(client, made).headers["ETag"]
    clock.advance(5)
    assert_unchanged(receipt(client, made, tag), tag)  # time alone changes nothing
    reveal(client, made)
    changed = receipt(client, made, tag)
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.get_json()["views_left"] == 1


@pytest.mark.every_backend
def test_expiry_changes_the_tag_without_any_write(client, clock):
    made = make_secret(client, expires_in=300)
    tag = receipt(client, made).headers["ETag"]
    clock.advance(301)
    expired = receipt(client, made, tag)
    assert expired.status_code == 200 and expired.get_json()["state"] == "expired"


@pytest.mark.every_backend
def test_a_wrong_passphrase_and_a_burn_change_the_tag(client):
    made = make_secret(client, kdf=KDF)
    tags = [receipt(client, made).headers["ETag"]]
    reveal(client, made, access=os.urandom(32))
    counted = receipt(client, made, tags[-1])
    assert counted.get_json()["failed_attempts"] == 1
    tags.append(counted.headers["ETag"])
    client.delete(f"/api/v1/secrets/{made.id}", headers=made.auth())
    burned = receipt(client, made, tags[-1])
    assert burned.get_json()["state"] == "burned"
    assert len({*tags, burned.headers["ETag"]}) == 3


@pytest.mark.every_backend
def test_a_reply_and_its_reading_change_the_tag(client):
    made = make_secret(client, max_views=1, reply_key=REPLY_KEY)
    reveal(client, made)
    tags = [receipt(client, made).headers["ETag"]]
    post_reply(client, made)
    tags.append(receipt(client, made, tags[-1]).headers["ETag"])
    reveal_reply(client, made, 1)
    answer = receipt(client, made, tags[-1])
    assert answer.status_code == 200 and answer.get_json()["replies"][0]["read_at"]
    assert len({*tags, answer.headers["ETag"]}) == 3


def test_a_weak_tag_from_a_compressing_proxy_still_matches(client):
    made = make_secret(client)
    tag = receipt(client, made).headers["ETag"]
    assert_unchanged(receipt(client, made, "W/" + tag), tag)


def test_the_tag_opens_nothing_without_the_token(client):
    made = make_secret(client)
    tag = receipt(client, made).headers["ETag"]
    other = "B" if made.token.endswith("A") else "A"
    wrong = receipt(client, made, tag, token=made.token[:-1] + other)
    assert_problem(wrong, 404)
    assert "ETag" not in wrong.headers
    anonymous = client.get(f"/api/v1/secrets/{made.id}/receipt", headers={"If-None-Match": tag})
    assert_problem(anonymous, 401)


def test_a_tag_that_is_not_ours_brings_the_whole_receipt(client):
    made = make_secret(client)
    for tag in ('"nonsense"', "garbage without quotes", "W/", '"' + "x" * 5000 + '"'):
        assert receipt(client, made, tag).status_code == 200
