"""Request bodies: each endpoint reads only what it needs, and only JSON shapes the API uses."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import requests

from mayfly import bodies, create_app
from mayfly.crypto import b64encode
from mayfly.errors import InvalidInput

from .helpers import KDF, create_body, make_secret
from .live import LiveServer
from .test_api import assert_problem

SECRET = "/api/v1/secrets/" + "A" * 24
PROOFS = {"link_proof": b64encode(bytes(32)), "access_proof": b64encode(bytes(32))}


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the body was read")


def send_unread(client, method: str, path: str, length: int):
    """Announce a body of ``length`` bytes that must be refused without a read."""
    return client.open(path, method=method, content_type="application/json",
                       environ_overrides={"wsgi.input": Untouchable(),
                                          "CONTENT_LENGTH": str(length)})


@pytest.mark.parametrize(("method", "path"), [
    ("POST", SECRET + "/reveal"), ("GET", SECRET + "/receipt"), ("DELETE", SECRET),
    ("GET", SECRET), ("GET", "/"), ("GET", "/healthz"), ("POST", "/lang/en"),
])
def test_a_body_beyond_what_the_endpoint_needs_is_a_413_unread(client, method, path):
    response = send_unread(client, method, path, bodies.SMALL_BODY + 1)
    assert_problem(response, 413)


def test_create_accepts_bodies_up_to_the_configured_limit_only(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert_problem(send_unread(client, "POST", "/api/v1/secrets", limit + 1), 413)
    make_secret(client, size=bodies.SMALL_BODY * 4)


def test_a_reveal_body_of_legitimate_size_is_read(client):
    made = make_secret(client)
    response = client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs())
    assert response.status_code == 200


def test_a_chunked_reveal_body_is_cut_off_at_the_small_limit(client):
    # No Content-Length: the limit applies while reading.
    body = json.dumps({**PROOFS, "pad": "x" * 100_000}).encode()
    response = client.post(SECRET + "/reveal", content_type="application/json",
                           environ_overrides={"wsgi.input": io.BytesIO(body),
                                              "wsgi.input_terminated": True})
    assert_problem(response, 413)


HOSTILE = {
    "many empty objects": b"[" + b",".join([b"{}"] * 200_000) + b"]",
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "many keys": b"{" + b",".join(b'"k%d":1' % i for i in range(100_000)) + b"}",
    "array of strings": b"[" + b",".join([b'"a"'] * 100_000) + b"]",
    "kdf nested": json.dumps({**create_body(b"\x01" + bytes(40), bytes(32), bytes(32)),
                              "kdf": {**KDF, "salt": [[[[[]]]]]}}).encode(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("path", ["/api/v1/secrets", SECRET + "/reveal"])
def test_json_shapes_the_api_never_uses_are_a_400(client, path, name):
    response = client.post(path, data=HOSTILE[name], content_type="application/json")
    expected = 413 if len(HOSTILE[name]) > bodies.SMALL_BODY and "reveal" in path else 400
    assert_problem(response, expected)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_shapes_are_refused_before_they_are_built(name, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("json.loads ran")

    monkeypatch.setattr(bodies.json, "loads", never)
    with pytest.raises(InvalidInput):
        bodies.parse_json(HOSTILE[name])


@pytest.mark.parametrize(("data", "field"), [
    (b'{"link_proof": "a", "link_proof": "b", "access_proof": "c"}', "link_proof"),
    (b'{"kdf": {"name": "x", "name": "y"}}', "name"),
])
def test_duplicate_keys_are_refused(data, field):
    with pytest.raises(InvalidInput) as raised:
        bodies.parse_json(data)
    assert raised.value.extra["field"] == field


def test_duplicate_keys_are_a_400_from_the_api(client):
    made = make_secret(client)
    link, access = made.proofs()["link_proof"], made.proofs()["access_proof"]
    data = f'{{"link_proof": "{b64encode(bytes(32))}", "link_proof": "{link}",' \
           f' "access_proof": "{access}"}}'
    response = client.post(f"/api/v1/secrets/{made.id}/reveal", data=data,
                           content_type="application/json")
    assert assert_problem(response, 400)["field"] == "link_proof"


@pytest.mark.parametrize("data", [
    json.dumps(create_body(b"\x01" + bytes(40), bytes(32), bytes(32), kdf=KDF,
                           expires_in=3600, max_views=3)).encode(),
    json.dumps(PROOFS).encode(), b' {"a": "[{\\"}]"}\n', b'"x"', b"1", b"null",
    b'{"a": "x\\\\", "b": "\\\\\\"{[", "c": ""}', b'["\\\\\\\\", ":,"]',
])
def test_shapes_the_api_uses_parse_as_json_does(data):
    assert bodies.parse_json(data) == json.loads(data)


@pytest.mark.parametrize("data", [b'{"a": "never closed}', b'{"a": "x\\"}', b'"\\\\\\"'])
def test_a_string_that_never_ends_is_refused(data):
    with pytest.raises(InvalidInput):
        bodies.parse_json(data)


def as_text(document: dict) -> dict:
    """A parsed body with its long values (left as bytes) turned into the strings they are."""
    return {key: value.tobytes().decode("ascii") if isinstance(value, memoryview) else value
            for key, value in document.items()}


def test_brackets_and_commas_inside_strings_are_not_counted():
    data = b'{"ciphertext": "' + b"[{,:" * 250_000 + b'", "kdf": {"a": "\\"[\\\\"}}'
    assert as_text(bodies.parse_json(data)) == json.loads(data)


@pytest.mark.parametrize("data", [
    b'{"ciphertext": "' + b"A" * 100_000 + b'", "max_views": 2}',
    bytearray(b'{"kdf": null, "ciphertext": "' + b"A_-" * 40_000 + b'"}'),
])
def test_a_long_ciphertext_is_left_as_the_bodys_bytes(data):
    document = bodies.parse_json(data)
    assert isinstance(document["ciphertext"], memoryview)
    assert as_text(document) == json.loads(data)


@pytest.mark.parametrize("data", [
    # Escapes, another field, a list element: parsed as json.loads does, as strings.
    b'{"ciphertext": "' + b"A" * 100_000 + b'\\u0041"}',
    b'{"notify_email": "' + b"a" * 100_000 + b'"}',
    b'{"ciphertext": ["' + b"A" * 100_000 + b'"]}',
])
def test_other_long_strings_parse_as_json_does(data):
    assert bodies.parse_json(data) == json.loads(data)


def test_a_string_like_the_marker_is_the_clients_own():
    data = b'{"ciphertext": "' + b"A" * 100_000 + b'", "x": "\\u0000mayfly-long-0"}'
    assert as_text(bodies.parse_json(data)) == json.loads(data)


def test_a_long_value_with_a_duplicate_key_is_still_refused():
    data = b'{"ciphertext": "' + b"A" * 100_000 + b'", "ciphertext": "AAAA"}'
    with pytest.raises(InvalidInput, match="appears twice"):
        bodies.parse_json(data)


def peak_rss_kib(pid: int) -> int:
    """The highest resident memory a process ever had (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1])


def children(pid: int) -> list[int]:
    """The uWSGI master's children: its worker and its HTTP router."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.slow
def test_hostile_bodies_do_not_grow_a_uwsgi_worker(tmp_path):
    with LiveServer(tmp_path, processes=1) as server:
        limit = create_app({"data_dir": str(tmp_path)}).config["MAX_CONTENT_LENGTH"]
        hostile = b"[" + b"{}," * ((limit - 3) // 3) + b"{}]"
        assert len(hostile) <= limit
        before = {pid: peak_rss_kib(pid) for pid in children(server.process.pid)}
        for path in ("/api/v1/secrets", SECRET + "/reveal") * 3:
            try:
                response = requests.post(server.url + path, data=hostile, timeout=60,
                                         headers={"Content-Type": "application/json"})
            except requests.ConnectionError:
                # uWSGI's HTTP router may reset a connection whose body the app
                # refused unread (issue #10 item 4); the refusal is what counts here.
                continue
            assert response.status_code in {400, 413}, response.text[:200]
        growth = max(peak_rss_kib(pid) - before[pid] for pid in before)
    # Reading the 14 MB create body once (into one buffer) is all it may cost.
    assert growth < 48 * 1024, f"a worker grew by {growth // 1024} MiB"
