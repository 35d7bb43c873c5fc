"""The lean writes (lean_writes.py) answer byte for byte as Flask does, or leave it to Flask."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mayfly import app_rules, lean, lean_writes
from mayfly.errors import StorageUnavailable
from mayfly.rules import parse_new_secret

from .helpers import KDF, create_body
from .test_api import ENVELOPE, assert_problem
from .test_api_notices import SMTP
from .test_api_replies import REPLY_KEY
from .test_lean_reads import Stacks

CREATE = "/api/v1/secrets"
LINK, ACCESS = bytes(range(32)), bytes(range(1, 33))
PROOFS = json.dumps({"link_proof": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                     "access_proof": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}).encode()


@pytest.fixture
def stacks(app) -> Stacks:
    return Stacks(app)


def post(stacks, wsgi, path: str, body: bytes, **request) -> tuple[str, list, bytes]:
    request.setdefault("content_type", "application/json")
    return stacks.answer(wsgi, path, method="POST", data=body, **request)


def create_json(**fields) -> bytes:
    return json.dumps(create_body(ENVELOPE, LINK, ACCESS, **fields)).encode()


def compare_create(stacks, body: bytes, **request) -> tuple[tuple[str, list, bytes], bool]:
    """A create by the full stack, checked identical to plain Flask's but for the fresh
    id and token (random, of fixed lengths); and whether the lean path answered it."""
    before = stacks.flask_calls
    full = post(stacks, stacks.full, CREATE, body, **request)
    lean_answered = stacks.flask_calls == before
    plain = post(stacks, stacks.plain, CREATE, body, **request)
    assert (renamed(full, plain) if full[0].startswith("201") else full) == plain
    return full, lean_answered


def renamed(answer: tuple[str, list, bytes], other: tuple[str, list, bytes]):
    """A create's answer with its id and token replaced by those of the other answer."""
    status, headers, body = answer
    ours, theirs = json.loads(body), json.loads(other[2])
    for key in ("id", "manage_token"):
        old, new = ours[key], theirs[key]
        headers = [(name, value.replace(old, new)) for name, value in headers]
        body = body.replace(old.encode(), new.encode())
    return status, headers, body


def twins(app, **fields) -> list[str]:
    """Two secrets alike in everything but their id (stored directly: no rate limit counts)."""
    rules = app_rules(app)
    new = parse_new_secret(json.loads(create_json(**fields)), rules.settings)
    return [rules.create(new).id for _ in range(2)]


def compare_reveal(stacks, ids: list[str], body: bytes = PROOFS,
                   **request) -> tuple[tuple[str, list, bytes], bool]:
    """The reveal of twins[0] by the full stack, identical to plain Flask's of twins[1]."""
    before = stacks.flask_calls
    full = post(stacks, stacks.full, f"{CREATE}/{ids[0]}/reveal", body, **request)
    lean_answered = stacks.flask_calls == before
    assert full == post(stacks, stacks.plain, f"{CREATE}/{ids[1]}/reveal", body, **request)
    return full, lean_answered


@pytest.mark.every_backend
@pytest.mark.parametrize("fields", [{}, {"kdf": KDF, "max_views": 3, "expires_in": 600},
                                    {"reply_key": REPLY_KEY}],
                         ids=["plain", "passphrase", "reply key"])
def test_create_is_flasks_create(stacks, fields):
    (status, headers, body), lean_answered = compare_create(stacks, create_json(**fields))
    assert lean_answered and status == "201 CREATED"
    created = json.loads(body)
    assert ("Location", f"{CREATE}/{created['id']}") in headers
    assert ("Cache-Control", "no-store") in headers
    assert ("Content-Type", "application/json") in headers
    assert created["url"] == f"http://localhost/s/{created['id']}"


@pytest.mark.parametrize("settings_overrides", [{"public_url": "https://mayfly.example/"}])
def test_create_links_under_the_public_url(stacks):
    (_, _, body), lean_answered = compare_create(stacks, create_json())
    assert lean_answered and json.loads(body)["url"].startswith("https://mayfly.example/s/")


@pytest.mark.every_backend
@pytest.mark.parametrize("fields", [{"max_views": 2}, {"reply_key": REPLY_KEY}],
                         ids=["views left", "reply key"])
def test_reveal_is_flasks_reveal(client, stacks, fields, app):
    ids = twins(app, **fields)
    (status, headers, body), lean_answered = compare_reveal(stacks, ids)
    assert lean_answered and status == "200 OK"
    assert ("Content-Type", "application/json") in headers
    assert ("Cache-Control", "no-store") in headers
    document = json.loads(body)
    assert document["views_left"] == fields.get("max_views", 1) - 1
    assert document["reply_public_key"] == (REPLY_KEY["public_key"] if "reply_key" in fields
                                            else None)
    left = [app_rules(app).storage.receipt(i, app_rules(app).clock()).views_left for i in ids]
    assert left == [document["views_left"]] * 2


@pytest.mark.every_backend
def test_a_large_ciphertext_is_revealed_whole(client, stacks):
    ciphertext = b"\x01" + bytes(range(256)) * 1024
    response = client.post(CREATE, json=create_body(ciphertext, LINK, ACCESS))
    ids = [response.get_json()["id"], client.post(
        CREATE, json=create_body(ciphertext, LINK, ACCESS)).get_json()["id"]]
    (status, _, body), lean_answered = compare_reveal(stacks, ids)
    assert lean_answered and status == "200 OK"
    assert json.loads(body)["ciphertext"] == create_body(ciphertext, LINK, ACCESS)["ciphertext"]


@pytest.mark.parametrize("settings_overrides", [SMTP])
@pytest.mark.every_backend
def test_lean_writes_queue_the_notice_in_the_senders_language(app, stacks):
    body = create_json(notify_email="sender@example.org")
    (_, _, created), lean_answered = compare_create(
        stacks, body, headers={"Cookie": "mayfly_lang=zh_CN", "Accept-Language": "de"})
    assert lean_answered
    secret_id = json.loads(created)["id"]
    (status, _, _), lean_answered = lean_post(stacks, f"{CREATE}/{secret_id}/reveal", PROOFS)
    assert lean_answered and status == "200 OK"
    notices = app_rules(app).storage.claim_notices(4e9, 4e9 + 1, 100)
    [notice] = [n for n in notices if n.secret_id == secret_id]
    assert (notice.language, notice.address) == ("zh_CN", "sender@example.org")


BAD_BODIES = [
    (b"{", 400), (b'{"link_proof": 1}', 400), (b"[]", 400), (b'{"x": 1}', 400),
    (b'{"a":' * 40 + b"1" + b"}" * 40, 400), (b"\xff", 400), (b"", 400),
]


@pytest.mark.parametrize("body, status", BAD_BODIES)
def test_a_bad_body_is_flasks_problem(app, stacks, body, status):
    (answer, _, document), lean_answered = compare_create(stacks, body)
    assert not lean_answered and answer.startswith(str(status))
    assert json.loads(document)["status"] == status
    ids = twins(app)
    (answer, _, document), lean_answered = compare_reveal(stacks, ids, body)
    assert not lean_answered and answer.startswith(str(status))


@pytest.mark.parametrize("request_", [
    {"content_type": "text/plain"},
    {"content_type": "application/json; charset=utf-8"},
    {"content_type": "application/merge-patch+json"},
    {"query_string": "x=1"},
    {"base_url": "http://localhost/prefix"},
    {"environ_overrides": {"CONTENT_LENGTH": "+150"}},
    {"environ_overrides": {"CONTENT_LENGTH": "1e3"}},
    {"headers": {"Transfer-Encoding": "chunked"}},
], ids=["text", "charset", "+json", "query", "prefix", "signed length", "odd length",
        "chunked"])
def test_anything_but_a_plain_json_post_is_flasks(app, stacks, request_):
    (status, _, _), lean_answered = compare_create(stacks, create_json(), **request_)
    assert not lean_answered
    ids = twins(app)
    (status, _, _), lean_answered = compare_reveal(stacks, ids, **request_)
    assert not lean_answered


def test_flask_reads_the_body_the_lean_path_read(app, client, stacks):
    # Read, parsed and refused by the lean path: Flask's detail names the field it saw.
    (_, _, body), lean_answered = compare_create(stacks, b'{"colour": "red"}')
    assert not lean_answered and json.loads(body)["field"] == "colour"
    # A JSON spelling the lean path leaves alone is still stored by Flask.
    (status, _, _), lean_answered = compare_create(
        stacks, create_json(), content_type="application/json; charset=utf-8")
    assert not lean_answered and status == "201 CREATED"
    [secret_id, _] = twins(app)
    response = client.post(f"{CREATE}/{secret_id}/reveal", data=b' {"x": 1}',
                           content_type="application/json")
    assert_problem(response, 400, "invalid-input")
    assert response.get_json()["field"] == "x"


class Trickle(io.RawIOBase):
    """A stream that gives at most three bytes a read, as a socket may."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.data.read(min(size, 3) if size >= 0 else 3)


def test_a_body_that_ends_early_ends_early_for_flask(app, stacks):
    ids = twins(app)
    longer = {"CONTENT_LENGTH": str(len(PROOFS) + 10)}  # the client went away
    (status, _, _), lean_answered = compare_reveal(stacks, ids, environ_overrides=longer)
    assert not lean_answered and status.startswith("400")
    environ = {"CONTENT_LENGTH": "10", "wsgi.input": Trickle(b"12345")}
    assert lean.read_body(environ, 100) is None
    assert environ["CONTENT_LENGTH"] == "10" and environ["wsgi.input"].read() == b"12345"


@pytest.mark.parametrize("length, limit, expected", [
    ("10", 100, b"0123456789"), ("4", 100, b"0123"), ("10", 9, None), ("0", 100, None),
    ("", 100, None), ("-1", 100, None), (" 10", 100, None), ("１０", 100, None),
])
def test_the_body_is_read_to_its_declared_length_within_the_limit(length, limit, expected):
    environ = {"CONTENT_LENGTH": length, "wsgi.input": Trickle(b"0123456789abc")}
    assert lean.read_body(environ, limit) == expected
    left = environ["wsgi.input"].data.read()
    assert left == (b"0123456789abc" if expected is None else b"0123456789abc"[len(expected):])


def test_a_create_larger_than_a_lean_body_is_flasks_unread(stacks):
    small = create_json()
    padded = small[:-1] + b" " * (lean_writes.LEAN_BODY + 1 - len(small)) + b"}"
    assert len(padded) == lean_writes.LEAN_BODY + 1
    (status, _, _), lean_answered = compare_create(stacks, padded)
    assert not lean_answered and status.startswith("201")
    (status, _, _), lean_answered = compare_create(stacks, padded[:-2] + b"}")
    assert lean_answered and status.startswith("201")


def test_an_oversize_declared_length_is_flasks_413(app, stacks):
    ids = twins(app)
    (status, _, _), lean_answered = compare_reveal(stacks, ids, b"x" * 5000)
    assert not lean_answered and status.startswith("413")
    too_large = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    (status, _, _), lean_answered = compare_create(stacks, too_large)
    assert not lean_answered and status.startswith("413")


@pytest.mark.every_backend
@pytest.mark.parametrize("wrong", ["link", "access"])
def test_a_wrong_proof_is_flasks_problem_and_counts_once(client, stacks, app, wrong):
    ids = twins(app, kdf=KDF)
    proofs = json.loads(PROOFS)
    proofs[f"{wrong}_proof"] = "A" * 43
    (status, _, body), lean_answered = compare_reveal(stacks, ids, json.dumps(proofs).encode())
    assert not lean_answered and status.startswith("403")
    failed = [app_rules(app).storage.receipt(i, app_rules(app).clock()).failed_attempts
              for i in ids]
    assert failed == ([1, 1] if wrong == "access" else [0, 0])
    assert json.loads(body).get("attempts_left") == (4 if wrong == "access" else None)


@pytest.mark.every_backend
def test_an_unknown_or_spent_secret_is_flasks_404(app, stacks):
    ids = twins(app)
    assert compare_reveal(stacks, ids)[0][0] == "200 OK"
    (status, _, _), lean_answered = compare_reveal(stacks, ids)
    assert not lean_answered and status.startswith("404")
    (status, _, _), lean_answered = compare_reveal(stacks, ["A" * 24, "B" * 24])
    assert not lean_answered and status.startswith("404")


def failing(monkeypatch, storage, method: str, error: Exception) -> list:
    """Make storage.<method> do its work, then raise ``error``; the list counts its calls."""
    calls = []
    original = getattr(storage, method)

    def done_then_failed(*args, **kwargs):
        calls.append(args[0])
        original(*args, **kwargs)
        raise error

    monkeypatch.setattr(storage, method, done_then_failed)
    return calls


@pytest.mark.every_backend
@pytest.mark.parametrize("error, status", [(StorageUnavailable(), 503),
                                           (RuntimeError("boom"), 500)])
def test_a_failed_reveal_is_answered_by_flask_and_never_tried_again(
        client, stacks, app, monkeypatch, caplog, error, status):
    [secret_id, _] = twins(app, max_views=3)
    calls = failing(monkeypatch, app_rules(app).storage, "reveal", error)
    caplog.set_level(logging.ERROR)
    before = stacks.flask_calls
    answer, headers, body = post(stacks, stacks.full, f"{CREATE}/{secret_id}/reveal", PROOFS)
    assert stacks.flask_calls == before + 1 and answer.startswith(str(status))
    assert calls == [secret_id]  # once, by the lean path: Flask raised its error again
    assert ("Content-Type", "application/problem+json") in headers
    assert json.loads(body)["status"] == status
    assert len([r for r in caplog.records if "unexpected error" in r.message]) == (status == 500)
    live = app_rules(app).storage.receipt(secret_id, app_rules(app).clock())
    assert live.views_left == 2  # the one view the failing storage spent


@pytest.mark.every_backend
def test_a_failed_create_is_answered_by_flask_and_never_tried_again(stacks, app, monkeypatch):
    calls = failing(monkeypatch, app_rules(app).storage, "create", StorageUnavailable())
    before = stacks.flask_calls
    answer, _, body = post(stacks, stacks.full, CREATE, create_json())
    assert stacks.flask_calls == before + 1 and answer.startswith("503")
    assert len(calls) == 1 and json.loads(body)["type"].endswith("/storage-unavailable")


def lean_post(stacks, path: str, body: bytes,
              environ_base: dict | None = None) -> tuple[tuple[str, list, bytes], bool]:
    """One POST through the full stack; and whether the lean path answered it."""
    before = stacks.flask_calls
    answer = post(stacks, stacks.full, path, body, environ_base=environ_base)
    return answer, stacks.flask_calls == before


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_create": "2/minute",
                                                 "rate_limit_reveal": "2/minute"}])
def test_each_request_counts_once_against_the_rate_limit(app, stacks):
    assert lean_post(stacks, CREATE, b"{")[0][0].startswith("400")  # counted by Flask
    (status, _, _), lean_answered = lean_post(stacks, CREATE, create_json())
    assert lean_answered and status.startswith("201")
    (status, headers, _), lean_answered = lean_post(stacks, CREATE, create_json())
    assert not lean_answered and status.startswith("429")
    assert int(dict(headers)["Retry-After"]) > 0
    (status, _, _), lean_answered = lean_post(stacks, CREATE, create_json(),
                                              {"REMOTE_ADDR": "10.9.9.9"})
    assert lean_answered and status.startswith("201")  # counted per address
    [secret_id, _] = twins(app, max_views=5)
    reveal = f"{CREATE}/{secret_id}/reveal"
    wrong = json.dumps({**json.loads(PROOFS), "link_proof": "A" * 43}).encode()
    (status, _, _), lean_answered = lean_post(stacks, reveal, wrong)
    assert not lean_answered and status.startswith("403")  # counted by the lean path
    (status, _, _), lean_answered = lean_post(stacks, reveal, PROOFS)
    assert lean_answered and status == "200 OK"
    (status, _, body), lean_answered = lean_post(stacks, reveal, PROOFS)
    assert not lean_answered and status.startswith("429")
    assert json.loads(body)["status"] == 429
    receipt = app_rules(app).storage.receipt(secret_id, app_rules(app).clock())
    assert receipt.views_left == 4  # the limited reveal spent nothing


def test_debug_mode_writes_are_flasks(client, stacks, app):
    app.debug = True
    (_, _, body), lean_answered = compare_create(stacks, create_json())
    assert not lean_answered and b"\n  " in body
    ids = twins(app)
    assert not compare_reveal(stacks, ids)[1]


def test_a_prefixed_create_points_at_the_prefixed_metadata(stacks):
    (_, headers, body), _ = compare_create(stacks, create_json(),
                                           base_url="http://localhost/prefix")
    assert ("Location", f"/prefix{CREATE}/{json.loads(body)['id']}") in headers


def test_the_routes_are_the_two_writes():
    assert [(method, pattern.pattern) for method, pattern, _ in lean_writes.ROUTES] == [
        ("POST", "/api/v1/secrets"), ("POST", r"/api/v1/secrets/([A-Za-z0-9_-]{24})/reveal")]
