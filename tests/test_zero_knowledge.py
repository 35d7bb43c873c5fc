"""The server never sees the plaintext, the key or the passphrase."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .live import LiveServer
from .recording_proxy import RecordingProxy

pytestmark = pytest.mark.slow

MAYFLY = str(Path(sys.executable).with_name("mayfly"))
CANARY = "canary-7f3a9c plaintext 金丝雀"
PASSPHRASE = "passphrase-canary-51d2"
FILE_CANARY = b"attachment-canary-e83b"
REPLY_CANARY = "reply-canary-4c1e 回复金丝雀"
REPLY_FILE_CANARY = b"reply-attachment-canary-90af"
NOTE_CANARY = "note-canary-2b7d 请求金丝雀"
ANSWER_CANARY = "answer-canary-d51e 答复金丝雀"
ANSWER_FILE_CANARY = b"answer-attachment-canary-6a0c"
REQUEST_PASSPHRASE = "request-passphrase-canary-19fe"


def run(*args, env=None, stdin=""):
    return subprocess.run([MAYFLY, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_no_plaintext_key_or_passphrase_reaches_the_server(tmp_path):
    attachment = tmp_path / "note.txt"
    attachment.write_bytes(FILE_CANARY)
    with LiveServer(tmp_path / "server", processes=2) as server, \
            RecordingProxy(server.url) as proxy:
        env = {"MAYFLY_SERVER": proxy.url, "MAYFLY_PASSPHRASE": PASSPHRASE}
        sent = run("send", "--receipt", str(attachment), env=env, stdin=CANARY)
        assert sent.returncode == 0, sent.stderr
        link, receipt_link = sent.stdout.split()
        key = link.split("#", 1)[1]
        read = run("read", link, "--output", str(tmp_path / "out"), env=env)
        assert read.returncode == 0, read.stderr
        assert CANARY in read.stdout
        assert (tmp_path / "out" / "note.txt").read_bytes() == FILE_CANARY
        reply_file = tmp_path / "answer.txt"
        reply_file.write_bytes(REPLY_FILE_CANARY)
        replied = run("reply", link, str(reply_file), env=env, stdin=REPLY_CANARY)
        assert replied.returncode == 0, replied.stderr
        assert run("status", receipt_link, env=env).returncode == 0
        replies = run("replies", receipt_link, "--output", str(tmp_path / "replies"), env=env)
        assert replies.returncode == 0, replies.stderr
        assert REPLY_CANARY in replies.stdout
        assert (tmp_path / "replies" / "answer.txt").read_bytes() == REPLY_FILE_CANARY
        token, receipt_key = receipt_link.split("#", 1)[1].split(".")
        server_files = [p for p in (tmp_path / "server").rglob("*") if p.is_file()]

        seen = {
            "request " + str(i): body for i, body in enumerate(proxy.requests)
        } | {str(path): path.read_bytes() for path in server_files}
        assert any(b"/reveal" in r for r in proxy.requests)  # the proxy saw the traffic
        assert any(b"/replies" in r for r in proxy.requests)
        assert any(p.name == "mayfly.db" for p in server_files)
        for what, data in seen.items():
            for secret in (CANARY.encode(), PASSPHRASE.encode(), key.encode(), FILE_CANARY,
                           REPLY_CANARY.encode(), REPLY_FILE_CANARY, receipt_key.encode()):
                assert secret not in data, f"{secret!r} found in {what}"
        # The manage token travels in the Authorization header only, never in a URL.
        assert not any(token.encode() in r.split(b"\n", 1)[0] for r in proxy.requests)
        assert token.encode() not in (tmp_path / "server" / "uwsgi.log").read_bytes()


def test_no_note_answer_key_or_passphrase_of_a_request_reaches_the_server(tmp_path):
    attachment = tmp_path / "staging.env"
    attachment.write_bytes(ANSWER_FILE_CANARY)
    with LiveServer(tmp_path / "server", processes=2) as server, \
            RecordingProxy(server.url) as proxy:
        env = {"MAYFLY_SERVER": proxy.url, "MAYFLY_PASSPHRASE": REQUEST_PASSPHRASE}
        asked = run("ask", NOTE_CANARY, "--passphrase", env=env)
        assert asked.returncode == 0, asked.stderr
        request_link, answer_link = asked.stdout.split()
        answered = run("answer", request_link, str(attachment), env=env, stdin=ANSWER_CANARY)
        assert answered.returncode == 0, answered.stderr
        assert NOTE_CANARY in answered.stderr
        assert run("status", answer_link, env=env).returncode == 0
        read = run("read", answer_link, "--output", str(tmp_path / "out"), env=env)
        assert read.returncode == 0, read.stderr
        assert ANSWER_CANARY in read.stdout
        assert (tmp_path / "out" / "staging.env").read_bytes() == ANSWER_FILE_CANARY
        key = request_link.split("#", 1)[1]
        token, answer_key = answer_link.split("#", 1)[1].split(".")
        server_files = [p for p in (tmp_path / "server").rglob("*") if p.is_file()]

        seen = {
            "request " + str(i): body for i, body in enumerate(proxy.requests)
        } | {str(path): path.read_bytes() for path in server_files}
        assert any(b"/answer" in r for r in proxy.requests)  # the proxy saw the traffic
        assert any(b"/replies/1/reveal" in r for r in proxy.requests)
        assert any(p.name == "mayfly.db" for p in server_files)
        for what, data in seen.items():
            for secret in (NOTE_CANARY.encode(), ANSWER_CANARY.encode(), ANSWER_FILE_CANARY,
                           REQUEST_PASSPHRASE.encode(), key.encode(), answer_key.encode()):
                assert secret not in data, f"{secret!r} found in {what}"
        assert not any(token.encode() in r.split(b"\n", 1)[0] for r in proxy.requests)
        assert token.encode() not in (tmp_path / "server" / "uwsgi.log").read_bytes()
