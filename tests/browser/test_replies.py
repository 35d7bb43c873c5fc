"""Replies in real Chromium: the reader answers, only the sender reads it, once.

Browser to browser, CLI to browser and browser to CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from .story import create_secret, open_link, read_message, read_reply, write_reply

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

ANSWER = "got it, thanks: 收到 <b>&amp;</b>"


def mayfly(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run this virtualenv's `mayfly` command."""
    command = shutil.which("mayfly", path=os.path.dirname(sys.executable))
    assert command, "the mayfly command is not installed in this environment"
    return subprocess.run([command, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items()
                                           if k != "MAYFLY_PASSPHRASE"})


def test_a_reply_goes_from_browser_to_browser_and_burns(sender, reader, tmp_path):
    shared = create_secret(sender, "the door code is 4711")
    open_link(reader, shared.link)
    read_message(reader)
    write_reply(reader, ANSWER, files=[
        {"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"reply \x00\xff bytes"}])
    expect(reader.get_by_test_id("reply")).to_be_hidden()

    assert read_reply(sender, shared.receipt_link) == ANSWER
    with sender.expect_download() as info:
        sender.get_by_test_id("reply-attachment").get_by_role("link").click()
    info.value.save_as(tmp_path / "saved")
    assert (tmp_path / "saved").read_bytes() == b"reply \x00\xff bytes"

    sender.reload()  # the reply burned: only its time is left
    expect(sender.get_by_test_id("replies-count")).to_have_text("1 reply")
    expect(sender.get_by_test_id("reply-open")).to_have_count(0)


def test_the_reply_composer_lists_removes_and_limits_files(sender, reader, tmp_path):
    shared = create_secret(sender, "send me the logs")
    open_link(reader, shared.link)
    read_message(reader)
    posts = []
    reader.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    reader.get_by_test_id("reply").click()
    size = reader.get_by_test_id("reply-size")
    expect(size).to_have_text(re.compile(r"^Encrypted size: \d+ B of the 10 MiB limit$"))
    hint = reader.get_by_test_id("reply-hint")
    reader.get_by_test_id("reply-send").click()
    expect(hint).to_have_text("Write a reply or attach a file first.")

    small = [{"name": name, "mimeType": "text/plain", "buffer": b"x" * 3} for name in ("a", "b")]
    reader.get_by_test_id("reply-file-input").set_input_files(small)
    expect(hint).to_be_hidden()  # a file is something to send
    expect(reader.get_by_test_id("reply-file")).to_have_text(["a3 BRemove", "b3 BRemove"])
    reader.get_by_role("button", name="Remove: a").click()
    expect(reader.get_by_role("button", name="Remove: b")).to_be_focused()
    reader.get_by_role("button", name="Remove: b").press("Enter")
    expect(reader.get_by_test_id("reply-file")).to_have_count(0)
    expect(reader.get_by_test_id("reply-file-input")).to_be_focused()

    ten = tmp_path / "ten.bin"
    ten.write_bytes(bytes(10 << 20))
    reader.get_by_test_id("reply-file-input").set_input_files(ten)
    expect(size).to_have_class(re.compile(r"\bover\b"))
    shown = re.fullmatch(r"Encrypted size: ([\d,.]+) (\w+) of the ([\d,.]+) \2 limit",
                         size.text_content())
    assert shown, size.text_content()
    used, unit, limit = shown[1], shown[2], shown[3]
    reader.get_by_test_id("reply-send").click()
    expect(hint).to_have_text(
        f"Too large: encrypted, this comes to {used} {unit}, over the {limit} {unit} limit.")
    assert posts == []  # refused in the page, before any upload


def test_a_second_reply_on_one_view_is_refused_and_the_text_stays(sender, reader, new_context):
    shared = create_secret(sender, "one view, one reply")
    open_link(reader, shared.link)
    read_message(reader)
    # The same reader replies from the CLI first, then tries in the page.
    assert mayfly("reply", shared.link, stdin="from the terminal").returncode == 0
    reader.get_by_test_id("reply").click()
    reader.get_by_test_id("reply-input").fill("a second answer")
    reader.get_by_test_id("reply-send").click()
    expect(reader.get_by_test_id("reply-hint")).to_contain_text("already replied")
    expect(reader.get_by_test_id("reply-input")).to_have_value("a second answer")


def test_without_replies_the_reader_gets_no_reply_button(sender, reader):
    sender.goto("/")
    sender.get_by_test_id("allow-reply").uncheck()
    sender.get_by_test_id("message-input").fill("no answers please")
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("share")).to_be_visible()
    link = sender.get_by_test_id("share-link").input_value()
    assert "." not in sender.get_by_test_id("receipt-link").input_value().split("#")[1]
    open_link(reader, link)
    read_message(reader)
    expect(reader.get_by_test_id("write-new")).to_be_visible()
    expect(reader.get_by_test_id("reply")).to_be_hidden()


def test_a_cli_reader_replies_to_a_browser_sender(sender):
    shared = create_secret(sender, "for the terminal")
    assert mayfly("read", shared.link).stdout.startswith("for the terminal")
    replied = mayfly("reply", shared.link, stdin=ANSWER)
    assert replied.returncode == 0, replied.stderr
    assert read_reply(sender, shared.receipt_link) == ANSWER


def test_a_browser_reader_replies_to_a_cli_sender(web_server, reader):
    sent = mayfly("send", "--server", web_server.url, "--receipt", stdin="from the terminal")
    link, receipt_link = sent.stdout.split()
    open_link(reader, link)
    assert read_message(reader) == "from the terminal"
    write_reply(reader, ANSWER)
    assert "1 reply (1 unread" in mayfly("status", receipt_link).stdout
    replies = mayfly("replies", receipt_link)
    assert replies.returncode == 0, replies.stderr
    assert replies.stdout.rstrip("\n") == ANSWER
