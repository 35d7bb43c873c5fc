"""The JSON API: its storage flows on every backend, its input checks and headers once."""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.http import parse_list_header

from mayfly.crypto import b64decode, b64encode
from mayfly.security import forwarded_values

from .helpers import KDF, create_body, make_secret

DAY = 86_400
ENVELOPE = b"\x01" + bytes(40)
GOOD = create_body(ENVELOPE, bytes(32), bytes(32))


def reveal(client, made, **wrong):
    return client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs(**wrong))


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and type)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["title"]
    if slug:
        assert problem["type"].endswith("/" + slug)
    return problem


@pytest.mark.every_backend
def test_create_answers_id_expiry_views_and_manage_token(client, clock):
    made = make_secret(client)
    body = made.response
    assert len(body["id"]) == 24 and len(b64decode(body["id"])) == 18
    assert body["views_left"] == 1
    assert body["expires_at"] == "2027-01-16T08:00:00Z"  # clock.now + 1 day, RFC 3339
    assert len(body["manage_token"]) >= 43
    assert body["url"] == f"http://localhost/s/{made.id}"
    assert body["receipt_url"] == f"http://localhost/r/{made.id}"


@pytest.mark.every_backend
def test_created_ids_and_tokens_are_unique(client):
    made = [make_secret(client) for _ in range(20)]
    assert len({m.id for m in made}) == len({m.token for m in made}) == 20


def test_location_header_points_at_the_metadata(client):
    created = client.post("/api/v1/secrets", json=create_body(ENVELOPE, bytes(32), bytes(32)))
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location == f"/api/v1/secrets/{created.get_json()['id']}"
    response = client.get(location)
    assert response.status_code == 200
    assert response.get_json()["id"] == created.get_json()["id"]


@pytest.mark.every_backend
def test_metadata_never_contains_the_ciphertext_nor_changes_anything(client):
    made = make_secret(client, kdf=KDF, max_views=2)
    for _ in range(5):
        meta = client.get(f"/api/v1/secrets/{made.id}").get_json()
    assert meta == {"id": made.id, "expires_at": made.response["expires_at"], "views_left": 2,
                    "passphrase": True, "kdf": KDF, "attempts_left": 5}
    assert b64encode(made.ciphertext) not in str(meta)
    assert reveal(client, made).status_code == 200


@pytest.mark.every_backend
def test_reveal_returns_the_ciphertext_once(client):
    made = make_secret(client)
    response = reveal(client, made)
    assert response.status_code == 200
    assert response.get_json() == {"ciphertext": b64encode(made.ciphertext), "views_left": 0,
                                   "reply_public_key": None}
    assert_problem(reveal(client, made), 404, "gone")
    assert_problem(client.get(f"/api/v1/secrets/{made.id}"), 404, "gone")


@pytest.mark.every_backend
@pytest.mark.parametrize("size", [100_000, 3 * 1024 * 1024])
def test_a_large_ciphertext_comes_back_whole_at_each_view(client, size):
    made = make_secret(client, size=size, max_views=2)
    for views_left in (1, 0):
        response = reveal(client, made)
        assert response.get_json()["ciphertext"] == b64encode(made.ciphertext)
        assert response.get_json()["views_left"] == views_left


@pytest.mark.every_backend
def test_max_views_allows_exactly_that_many_reveals(client):
    made = make_secret(client, max_views=3)
    assert [reveal(client, made).get_json()["views_left"] for _ in range(3)] == [2, 1, 0]
    assert_problem(reveal(client, made), 404)


@pytest.mark.every_backend
def test_knowing_only_the_id_neither_reads_nor_burns_nor_spends_attempts(client):
    made = make_secret(client, kdf=KDF)
    for _ in range(20):
        assert_problem(reveal(client, made, link=os.urandom(32), access=os.urandom(32)), 403)
    assert_problem(client.delete(f"/api/v1/secrets/{made.id}"), 401)
    assert_problem(client.delete(f"/api/v1/secrets/{made.id}", headers=made.auth("x" * 43)), 404)
    assert client.get(f"/api/v1/secrets/{made.id}").get_json()["attempts_left"] == 5
    assert reveal(client, made).status_code == 200


@pytest.mark.every_backend
def test_wrong_passphrase_is_counted_and_does_not_burn(client):
    made = make_secret(client, kdf=KDF)
    problem = assert_problem(reveal(client, made, access=os.urandom(32)), 403, "wrong-passphrase")
    assert problem["attempts_left"] == 4
    assert client.get(f"/api/v1/secrets/{made.id}").get_json()["attempts_left"] == 4
    assert reveal(client, made).get_json()["ciphertext"] == b64encode(made.ciphertext)


@pytest.mark.every_backend
def test_too_many_wrong_passphrases_burn_the_secret(client):
    made = make_secret(client, kdf=KDF)
    left = [reveal(client, made, access=os.urandom(32)).get_json()["attempts_left"]
            for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    assert_problem(reveal(client, made), 404)
    receipt = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    assert (receipt["state"], receipt["failed_attempts"]) == ("failed", 5)


@pytest.mark.parametrize("settings_overrides", [{"max_attempts": 2}])
@pytest.mark.every_backend
def test_attempt_limit_is_configurable(client, settings_overrides):
    made = make_secret(client, kdf=KDF)
    assert reveal(client, made, access=os.urandom(32)).get_json()["attempts_left"] == 1
    assert reveal(client, made, access=os.urandom(32)).get_json()["attempts_left"] == 0
    assert_problem(reveal(client, made), 404)


@pytest.mark.every_backend
def test_receipt_follows_the_secret_through_its_life(client, clock):
    made = make_secret(client, max_views=2)
    receipt_url = f"/api/v1/secrets/{made.id}/receipt"
    waiting = client.get(receipt_url, headers=made.auth()).get_json()
    assert (waiting["state"], waiting["views_left"], waiting["last_read_at"]) == (
        "waiting", 2, None)
    reveal(client, made)
    clock.advance(60)
    reveal(client, made)
    read = client.get(receipt_url, headers=made.auth()).get_json()
    assert read["state"] == "read" and read["views_left"] == 0
    assert read["first_read_at"] != read["last_read_at"] == read["ended_at"]
    assert read["kind"] == "secret"
    assert set(read) == {"id", "kind", "state", "created_at", "expires_at", "max_views",
                         "views_left", "failed_attempts", "first_read_at", "last_read_at",
                         "ended_at", "reply_key", "replies_left", "replies"}
    assert (read["reply_key"], read["replies_left"], read["replies"]) == (None, 0, [])


@pytest.mark.every_backend
def test_receipt_says_expired_unread_until_retention_ends(client, clock):
    made = make_secret(client, expires_in=300)
    clock.advance(301)
    receipt = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    assert receipt["state"] == "expired" and receipt["views_left"] == 1
    assert_problem(reveal(client, made), 404)
    clock.advance(7 * DAY)
    assert_problem(client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()), 404)


@pytest.mark.every_backend
def test_receipt_needs_the_right_token(client):
    made = make_secret(client)
    url = f"/api/v1/secrets/{made.id}/receipt"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers={"Authorization": "Basic eDp5"}), 401)
    other = "B" if made.token.endswith("A") else "A"
    assert_problem(client.get(url, headers=made.auth(made.token[:-1] + other)), 404)
    assert client.get(url, headers=made.auth()).status_code == 200


@pytest.mark.every_backend
def test_a_wrong_receipt_token_answers_as_for_an_id_that_never_existed(client):
    live, read, burned = make_secret(client), make_secret(client), make_secret(client)
    reveal(client, read)
    client.delete(f"/api/v1/secrets/{burned.id}", headers=burned.auth())
    wrong = {"Authorization": "Bearer " + "x" * 43}
    answers = set()
    for secret_id in (live.id, read.id, burned.id, "A" * 24):
        for response in (client.get(f"/api/v1/secrets/{secret_id}/receipt", headers=wrong),
                         client.delete(f"/api/v1/secrets/{secret_id}", headers=wrong)):
            answers.add((response.status_code, response.headers["Content-Type"],
                         response.get_data()))
    assert len(answers) == 1, answers
    assert answers.pop()[0] == 404
    assert client.get(f"/api/v1/secrets/{live.id}").status_code == 200  # nothing burned


@pytest.mark.every_backend
def test_sender_can_burn_early(client, clock):
    made = make_secret(client)
    assert client.delete(f"/api/v1/secrets/{made.id}", headers=made.auth()).status_code == 204
    assert_problem(reveal(client, made), 404)
    receipt = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    assert receipt["state"] == "burned"
    # Burning again is harmless: the receipt keeps saying burned, when it was.
    clock.advance(60)
    assert client.delete(f"/api/v1/secrets/{made.id}", headers=made.auth()).status_code == 204
    again = client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth()).get_json()
    assert (again["state"], again["ended_at"]) == ("burned", receipt["ended_at"])


@pytest.mark.every_backend
def test_expired_secret_is_gone(client, clock):
    made = make_secret(client, expires_in=300)
    clock.advance(299)
    assert client.get(f"/api/v1/secrets/{made.id}").status_code == 200
    clock.advance(1)
    assert_problem(client.get(f"/api/v1/secrets/{made.id}"), 404)
    assert_problem(reveal(client, made), 404)


@pytest.mark.every_backend
def test_missing_expired_and_burned_look_the_same(client, clock):
    read, expired = make_secret(client), make_secret(client, expires_in=300)
    reveal(client, read)
    clock.advance(301)
    bodies = {client.post(f"/api/v1/secrets/{s}/reveal", json=m.proofs()).get_data()
              for s, m in ((read.id, read), (expired.id, expired), ("A" * 24, read))}
    assert len(bodies) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({**GOOD, "extra": 1}, "extra"),
    ({k: v for k, v in GOOD.items() if k != "ciphertext"}, "ciphertext"),
    ({**GOOD, "ciphertext": "not base64!"}, "ciphertext"),
    ({**GOOD, "ciphertext": b64encode(ENVELOPE) + "="}, "ciphertext"),
    ({**GOOD, "ciphertext": 12}, "ciphertext"),
    ({**GOOD, "ciphertext": b64encode(b"\x01abc")}, "ciphertext"),
    ({**GOOD, "ciphertext": b64encode(b"\x09" + bytes(40))}, "ciphertext"),
    ({**GOOD, "link_proof_hash": b64encode(bytes(31))}, "link_proof_hash"),
    ({**GOOD, "access_proof_hash": None}, "access_proof_hash"),
    ({**GOOD, "expires_in": -1}, "expires_in"),
    ({**GOOD, "expires_in": 299}, "expires_in"),
    ({**GOOD, "expires_in": 7 * DAY + 1}, "expires_in"),
    ({**GOOD, "expires_in": 10**30}, "expires_in"),
    ({**GOOD, "expires_in": "3600"}, "expires_in"),
    ({**GOOD, "expires_in": 3600.5}, "expires_in"),
    ({**GOOD, "max_views": 0}, "max_views"),
    ({**GOOD, "max_views": 101}, "max_views"),
    ({**GOOD, "max_views": True}, "max_views"),
    ({**GOOD, "kdf": "PBKDF2"}, "kdf"),
    ({**GOOD, "kdf": {**KDF, "iterations": 1000}}, "iterations"),
    ({**GOOD, "kdf": {**KDF, "salt": b64encode(bytes(8))}}, "kdf"),
    ({**GOOD, "kdf": {**KDF, "name": "scrypt"}}, "kdf"),
    ({**GOOD, "kdf": {**KDF, "pepper": 1}}, "kdf"),
])
def test_malformed_create_is_a_400_naming_the_field(client, body, field):
    problem = assert_problem(client.post("/api/v1/secrets", json=body), 400, "invalid-input")
    assert problem["field"] == field
    assert problem["detail"]


@pytest.mark.parametrize(("data", "content_type"), [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ("null", "application/json"),
    ("\xff\xfe", "application/json"),
    ('{"ciphertext": "AA"}', "text/plain"),
    ("", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(client, data, content_type):
    response = client.post("/api/v1/secrets", data=data.encode("latin-1"),
                           content_type=content_type)
    assert_problem(response, 400)


@pytest.mark.parametrize("body", [
    {}, {"link_proof": "AA"}, {"link_proof": b64encode(bytes(32))},
    {"link_proof": b64encode(bytes(32)), "access_proof": b64encode(bytes(32)), "x": 1},
    {"link_proof": b64encode(bytes(33)), "access_proof": b64encode(bytes(32))},
])
def test_malformed_reveal_is_a_400_and_counts_nothing(client, body):
    made = make_secret(client, kdf=KDF)
    assert_problem(client.post(f"/api/v1/secrets/{made.id}/reveal", json=body), 400)
    assert client.get(f"/api/v1/secrets/{made.id}").get_json()["attempts_left"] == 5


@pytest.mark.parametrize("secret_id", ["x", "A" * 23, "A" * 25, "A" * 500, "%2e%2e", "AAAA*AAAA"])
def test_a_bad_id_is_simply_not_found(client, secret_id):
    assert_problem(client.get(f"/api/v1/secrets/{secret_id}"), 404)
    proofs = {"link_proof": b64encode(bytes(32)), "access_proof": b64encode(bytes(32))}
    assert_problem(client.post(f"/api/v1/secrets/{secret_id}/reveal", json=proofs), 404)


@pytest.mark.parametrize("settings_overrides", [{"max_ciphertext_bytes": 2048}])
def test_oversized_ciphertext_is_a_413(client, settings_overrides):
    body = create_body(b"\x01" + bytes(2048), bytes(32), bytes(32))
    assert_problem(client.post("/api/v1/secrets", json=body), 413, "payload-too-large")
    make_secret(client, size=2000)  # just under the limit is fine


@pytest.mark.parametrize("settings_overrides", [{"max_ciphertext_bytes": 2048}])
def test_oversized_body_is_refused_before_it_is_read(client, settings_overrides):
    huge = b"x" * (200 * 1024)
    response = client.post("/api/v1/secrets", data=huge, content_type="application/json")
    assert_problem(response, 413)


def test_wrong_method_and_unknown_path_are_problems(client):
    assert_problem(client.put("/api/v1/secrets"), 405)
    assert_problem(client.get("/api/v1/nothing-here", headers={"Accept": "application/json"}),
                   404)


def test_api_responses_carry_the_security_headers(client):
    made = make_secret(client)
    for response in (client.get(f"/api/v1/secrets/{made.id}"), reveal(client, made),
                     client.get("/api/v1/secrets/" + "A" * 24)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("settings_overrides", [{"public_url": "https://secrets.example.org/"}])
def test_links_use_the_public_url(client, settings_overrides):
    made = make_secret(client)
    assert made.response["url"] == f"https://secrets.example.org/s/{made.id}"


@pytest.mark.parametrize("settings_overrides", [{"proxy_count": 1}])
def test_links_follow_the_trusted_proxy(client, settings_overrides):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "mayfly.example"}
    response = client.post("/api/v1/secrets", headers=headers,
                           json=create_body(ENVELOPE, bytes(32), bytes(32)))
    assert response.get_json()["url"].startswith("https://mayfly.example/s/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@given(st.text(alphabet=' \t,"\\ab1.:[]', max_size=24))
def test_forwarded_values_split_as_werkzeug_does(value):
    assert forwarded_values(value) == parse_list_header(value)


@pytest.mark.parametrize("settings_overrides", [{"proxy_count": 2}])
def test_the_client_is_the_second_last_hop_behind_two_proxies(client, settings_overrides):
    headers = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "a.example, b.example",
               "X-Forwarded-For": "10.0.0.1, 10.0.0.2"}
    response = client.post("/api/v1/secrets", headers=headers,
                           json=create_body(ENVELOPE, bytes(32), bytes(32)))
    assert response.get_json()["url"].startswith("http://a.example/s/")


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    response = client.post("/api/v1/secrets", headers=headers,
                           json=create_body(ENVELOPE, bytes(32), bytes(32)))
    assert response.get_json()["url"].startswith("http://localhost/s/")


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_create": "2/minute",
                                                 "rate_limit_reveal": "3/minute"}])
def test_create_and_reveal_are_rate_limited_per_address(client, settings_overrides):
    made = [make_secret(client) for _ in range(2)]
    problem = assert_problem(
        client.post("/api/v1/secrets", json=create_body(ENVELOPE, bytes(32), bytes(32))), 429)
    assert problem["status"] == 429
    limited = client.post("/api/v1/secrets", json=GOOD)
    assert int(limited.headers["Retry-After"]) > 0
    for _ in range(2):
        reveal(client, made[0])
    reveal(client, made[1])
    assert_problem(reveal(client, made[1]), 429)
    other = client.post("/api/v1/secrets", json=GOOD, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 201


def test_nothing_secret_reaches_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    made = make_secret(client, kdf=KDF)
    reveal(client, made, access=os.urandom(32))
    reveal(client, made)
    client.get(f"/api/v1/secrets/{made.id}/receipt", headers=made.auth())
    logged = caplog.text
    for value in (made.token, b64encode(made.ciphertext), b64encode(made.link_proof),
                  b64encode(made.access_proof)):
        assert value not in logged
