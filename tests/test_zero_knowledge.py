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
        token = receipt_link.split("#", 1)[1]
        read = run("read", link, "--output", str(tmp_path / "out"), env=env)
        assert read.returncode == 0, read.stderr
        assert CANARY in read.stdout
        assert (tmp_path / "out" / "note.txt").read_bytes() == FILE_CANARY
        assert run("status", receipt_link, env=env).returncode == 0
        server_files = [p for p in (tmp_path / "server").rglob("*") if p.is_file()]

        seen = {
            "request " + str(i): body for i, body in enumerate(proxy.requests)
        } | {str(path): path.read_bytes() for path in server_files}
        assert any(b"/reveal" in r for r in proxy.requests)  # the proxy saw the traffic
        assert any(p.name == "mayfly.db" for p in server_files)
        for what, data in seen.items():
            for secret in (CANARY.encode(), PASSPHRASE.encode(), key.encode(), FILE_CANARY):
                assert secret not in data, f"{secret!r} found in {what}"
        # The manage token travels in the Authorization header only, never in a URL.
        assert not any(token.encode() in r.split(b"\n", 1)[0] for r in proxy.requests)
        assert token.encode() not in (tmp_path / "server" / "uwsgi.log").read_bytes()
