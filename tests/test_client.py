"""mayfly.client against hostile servers on loopback: every bad answer is one ClientError."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mayfly import crypto
from mayfly.client import Client, ClientError, Link

from .hostile import Hostile, drip_body, drip_headers, endless_body, json_answer, raw

ID = "A" * 24
KEY = crypto.b64encode(bytes(range(32)))
META = f"/api/v1/secrets/{ID}"
REVEAL = f"/api/v1/secrets/{ID}/reveal"
RECEIPT = f"/api/v1/secrets/{ID}/receipt"
KDF = {"name": crypto.KDF_NAME, "salt": crypto.b64encode(bytes(16)), "iterations": 600_000}
PLAIN_META = {"id": ID, "expires_at": "2030-01-01T00:00:00Z", "views_left": 1,
              "passphrase": False, "kdf": None, "attempts_left": 5}


@pytest.fixture
def hostile():
    """A scriptable server on a loopback port for this test."""
    with Hostile() as server:
        yield server


def read(server: Hostile, timeout: float = 10.0, passphrase: str | None = None,
         max_ciphertext_bytes: int = 1024 * 1024):
    link = Link.parse(f"{server.url}/s/{ID}#{KEY}")
    client = Client(link.base, timeout=timeout, max_ciphertext_bytes=max_ciphertext_bytes)
    return client.read(link, passphrase)


def kdf_meta(**kdf) -> dict:
    return {**PLAIN_META, "passphrase": True, "kdf": {**KDF, **kdf}}


@pytest.mark.parametrize(("metadata", "words"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "malformed"),
    (b'"text"', "malformed"),
    (b"{}", "malformed"),
    (b'{"passphrase": "yes", "kdf": null}', "malformed"),
    (b'{"passphrase": true, "kdf": null}', "malformed"),
    (b'{"passphrase": false, "kdf": null, "passphrase": true}', "not valid JSON"),
    (b'{"passphrase": false, "kdf": NaN}', "not valid JSON"),
    (b"[" * 60_000, "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_malformed_metadata_is_one_client_error(hostile, metadata, words):
    hostile.on("GET", META, raw("200 OK", metadata, {"Content-Type": "application/json"}))
    with pytest.raises(ClientError, match=words):
        read(hostile)


@pytest.mark.parametrize("kdf", [
    {"iterations": 2**32 - 1}, {"iterations": 2_000_000_000}, {"iterations": 10_000_001},
    {"iterations": 599_999}, {"iterations": 0}, {"iterations": -1}, {"iterations": "600000"},
    {"iterations": True}, {"iterations": 600_000.0}, {"salt": "not base64!"},
    {"salt": crypto.b64encode(bytes(8))}, {"name": "scrypt"}, {"extra": 1},
])
def test_kdf_parameters_outside_the_servers_own_bounds_are_refused_before_deriving(
        hostile, kdf):
    hostile.on("GET", META, json_answer(kdf_meta(**kdf)))
    started = time.monotonic()
    with pytest.raises(ClientError, match="malformed"):
        read(hostile, passphrase="pw")
    assert time.monotonic() - started < 5
    assert [method for method, _, _ in hostile.requests] == ["GET"]


@pytest.mark.parametrize("answer", [
    {"ciphertext": 5, "views_left": 0},
    {"views_left": 0},
    {"ciphertext": "AAAA", "views_left": "0"},
    {"ciphertext": "AAAA", "views_left": -1},
    {"ciphertext": "AAAA", "views_left": None},
    [],
])
def test_malformed_reveal_answers_are_one_client_error(hostile, answer):
    hostile.on("GET", META, json_answer(PLAIN_META)).on("POST", REVEAL, json_answer(answer))
    with pytest.raises(ClientError, match="malformed"):
        read(hostile)


def test_a_ciphertext_that_does_not_decrypt_says_so(hostile):
    hostile.on("GET", META, json_answer(PLAIN_META))
    hostile.on("POST", REVEAL, json_answer({"ciphertext": "AAAA", "views_left": 0}))
    with pytest.raises(ClientError, match="incomplete or damaged"):
        read(hostile)


@pytest.mark.parametrize("problem", [
    b'{"type": 5, "attempts_left": "x", "detail": ["a"]}',
    b'{"type": "about:blank/wrong-passphrase", "attempts_left": "x"}',
    b"[1, 2]", b"not json", b"\x1b]52;c;aGk=\x07",
])
def test_odd_error_answers_are_one_client_error(hostile, problem):
    hostile.on("GET", META, raw("403 Forbidden", problem,
                                {"Content-Type": "application/problem+json"}))
    with pytest.raises(ClientError, match=r"refused \(403\)|wrong passphrase") as caught:
        read(hostile)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)


@pytest.mark.parametrize("receipt", [
    {"state": "haunted", "max_views": 1, "views_left": 1, "expires_at": "2030-01-01T00:00:00Z"},
    {"state": "waiting", "max_views": "1", "views_left": 1,
     "expires_at": "2030-01-01T00:00:00Z"},
    {"state": "read", "max_views": 1, "views_left": 0, "last_read_at": None},
    {"state": "burned", "max_views": 1, "views_left": 0, "ended_at": "\x1b[2J"},
    {"state": "waiting"},
])
def test_malformed_receipts_are_one_client_error(hostile, receipt):
    hostile.on("GET", RECEIPT, json_answer(receipt))
    link = Link.parse(f"{hostile.url}/r/{ID}#token", kind="r")
    with pytest.raises(ClientError, match="malformed"):
        Client(link.base, timeout=10).receipt(link)


@pytest.mark.parametrize("created", [
    {"id": ID}, [],
    {"id": ID, "expires_at": "2030-01-01T00:00:00Z", "views_left": 1, "manage_token": "t",
     "url": "javascript:alert(1)", "receipt_url": f"http://x/r/{ID}"},
    {"id": ID, "expires_at": "2030-01-01T00:00:00Z", "views_left": 1, "manage_token": "t",
     "url": f"http://x/s/{ID}\x1b]0;title\x07", "receipt_url": f"http://x/r/{ID}"},
])
def test_malformed_create_answers_are_one_client_error(hostile, created):
    hostile.on("POST", "/api/v1/secrets", json_answer(created, "201 Created"))
    with pytest.raises(ClientError, match="malformed"):
        Client(hostile.url, timeout=10).send(crypto.Message("hi"))


@pytest.mark.parametrize("answer", [drip_body(), drip_headers()], ids=["body", "headers"])
def test_a_dripping_server_is_cut_off_at_the_total_timeout(hostile, answer):
    hostile.on("GET", META, answer)
    started = time.monotonic()
    with pytest.raises(ClientError, match="did not answer within 1.5 s"):
        read(hostile, timeout=1.5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "streamed"])
def test_an_answer_larger_than_the_create_limit_allows_is_refused_while_streaming(
        hostile, announce):
    hostile.on("GET", META, json_answer(PLAIN_META)).on("POST", REVEAL, endless_body(announce))
    with pytest.raises(ClientError, match="answer is too large"):
        read(hostile, max_ciphertext_bytes=64 * 1024)
    # 64 KiB of ciphertext is 88 KiB of base64, plus room for the JSON around it:
    # the client stops well before a few MiB, whatever the kernel's buffers hold.
    assert hostile.pieces_sent < 64


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "303 See Other",
                                    "307 Temporary Redirect", "308 Permanent Redirect"])
def test_redirects_are_never_followed_and_the_proofs_go_nowhere_else(hostile, status):
    with Hostile() as elsewhere:
        elsewhere.on("POST", REVEAL, json_answer({"ciphertext": "AAAA", "views_left": 0}))
        elsewhere.on("GET", META, json_answer(PLAIN_META))
        hostile.on("GET", META, json_answer(PLAIN_META))
        hostile.on("POST", REVEAL, raw(status, b"", {"Location": elsewhere.url + REVEAL}))
        with pytest.raises(ClientError, match="redirect"):
            read(hostile)
        assert elsewhere.requests == []


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 abc\r\n\r\n", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    b"",
], ids=["status", "no-status-line", "header", "length", "negative", "chunked", "short", "empty"])
def test_broken_http_is_one_client_error(hostile, answer):
    hostile.on("GET", META, lambda handler: handler.wfile.write(answer))
    with pytest.raises(ClientError):
        read(hostile)


def test_a_gzip_answer_is_refused_unread(hostile):
    hostile.on("GET", META, raw("200 OK", b"\x1f\x8b" + bytes(100),
                                {"Content-Type": "application/json", "Content-Encoding": "gzip"}))
    with pytest.raises(ClientError, match="encoding"):
        read(hostile)


def test_the_cli_reports_a_hostile_answer_in_one_line(hostile):
    hostile.on("GET", META, json_answer(kdf_meta(iterations=2**32 - 1)))
    mayfly = str(Path(sys.executable).with_name("mayfly"))
    result = subprocess.run([mayfly, "read", f"{hostile.url}/s/{ID}#{KEY}"], input="",
                            capture_output=True, text=True, timeout=60,
                            env={"MAYFLY_PASSPHRASE": "pw", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "malformed" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_refuses_a_nonsense_create_limit_in_one_line(hostile):
    mayfly = str(Path(sys.executable).with_name("mayfly"))
    result = subprocess.run([mayfly, "read", f"{hostile.url}/s/{ID}#{KEY}"], input="",
                            capture_output=True, text=True, timeout=60,
                            env={"MAYFLY_MAX_CIPHERTEXT_BYTES": "10MB", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "MAYFLY_MAX_CIPHERTEXT_BYTES must be a number of bytes" in result.stderr
    assert hostile.requests == []


def test_a_link_with_control_characters_in_its_host_is_named_escaped():
    link = Link.parse(f"http://127.0.0.1\x1bc\x07:9/s/{ID}#{KEY}")
    with pytest.raises(ClientError) as caught:
        Client(link.base, timeout=10).read(link)
    assert "\x1b" not in str(caught.value) and "\\x1bc\\x07" in str(caught.value)


@pytest.mark.parametrize("url", [f"http://a]b/s/{ID}#{KEY}", f"http://[::1/s/{ID}#{KEY}",
                                 f"http://host:port/s/{ID}#{KEY}"])
def test_a_link_that_is_not_a_url_is_one_client_error(url):
    with pytest.raises(ClientError):
        link = Link.parse(url)
        Client(link.base, timeout=10).read(link)


REPLY_KEY_PATH = f"/api/v1/secrets/{ID}/reply-key"
GOOD_POINT = crypto.b64encode(crypto.new_reply_keys(bytes(32)).public_key)


@pytest.mark.parametrize("answer", [
    {"public_key": GOOD_POINT},
    {"public_key": GOOD_POINT, "replies_left": "1"},
    {"public_key": crypto.b64encode(b"\x04" + bytes(64)), "replies_left": 1},
    {"public_key": 7, "replies_left": 1},
    [],
])
def test_a_malformed_reply_key_is_one_client_error_and_nothing_is_posted(hostile, answer):
    hostile.on("POST", REPLY_KEY_PATH, json_answer(answer))
    link = Link.parse(f"{hostile.url}/s/{ID}#{KEY}")
    with pytest.raises(ClientError, match="malformed"):
        Client(link.base, timeout=10).reply(link, crypto.Message("the answer"))


@pytest.mark.parametrize("reply_key", [
    {"public_key": "x", "wrapped_private_key": "y"}, "key", None])
def test_malformed_reply_keys_on_a_receipt_are_one_client_error(hostile, reply_key):
    receipt = {"state": "read", "max_views": 1, "views_left": 0,
               "created_at": "2030-01-01T00:00:00Z", "expires_at": "2030-01-02T00:00:00Z",
               "last_read_at": "2030-01-01T00:00:01Z", "ended_at": "2030-01-01T00:00:01Z",
               "reply_key": reply_key, "replies": [{"number": 1, "read_at": None}]}
    hostile.on("GET", RECEIPT, json_answer(receipt))
    link = Link.parse(f"{hostile.url}/r/{ID}#token.{KEY}", kind="r")
    with pytest.raises(ClientError, match="malformed|without replies"):
        Client(link.base, timeout=10).read_replies(link)
