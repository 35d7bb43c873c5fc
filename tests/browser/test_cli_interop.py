"""The CLI and the browser speak the same protocol: a link made by one is read by the other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from .story import create_secret, open_link, read_message

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

TEXT = "from one side to the other: 你好 <b>&amp;</b>"


def mayfly(*args: str, stdin: str = "", env: dict | None = None) -> str:
    """Run this virtualenv's `mayfly` command; return its standard output."""
    command = shutil.which("mayfly", path=os.path.dirname(sys.executable))
    assert command, "the mayfly command is not installed in this environment"
    done = subprocess.run([command, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_browser_link_is_read_by_the_cli(sender, tmp_path):
    shared = create_secret(sender, TEXT, files=[
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"attached \x00\xff bytes"}])
    printed = mayfly("read", shared.link, "--output", str(tmp_path))
    assert printed.rstrip("\n") == TEXT
    assert (tmp_path / "notes.txt").read_bytes() == b"attached \x00\xff bytes"


def test_a_cli_link_is_read_in_the_browser(web_server, reader, tmp_path):
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(bytes(range(256)) * 40)
    link = mayfly("send", str(attachment), "--server", web_server.url, "--views", "1",
                  stdin=TEXT, env={"MAYFLY_PASSPHRASE": "sesame"}).strip()

    open_link(reader, link)
    assert read_message(reader, passphrase="sesame") == TEXT
    expect(reader.get_by_test_id("attachment-name")).to_have_text("report.pdf")
    with reader.expect_download() as info:
        reader.get_by_test_id("download").click()
    saved = tmp_path / "downloaded"
    info.value.save_as(saved)
    assert saved.read_bytes() == attachment.read_bytes()
