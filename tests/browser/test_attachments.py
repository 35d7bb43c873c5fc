"""Attachments in real Chromium: the same bytes arrive; a hostile file runs nothing."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from .story import create_secret, open_link, read_message, read_reply, write_reply

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

# Each file, rendered as a page in mayfly's origin, would store a secret of its own.
POST = ('fetch(location.origin + "/api/v1/secrets", {method: "POST", body: "{}",'
        ' headers: {"Content-Type": "application/json"}})')
HOSTILE = {
    "page.html": ("text/html", f"<!doctype html><title>pwned</title><script>{POST}</script>"),
    "picture.svg": ("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg"><title>pwned</title>'
                    f"<script>{POST}</script></svg>"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_attachment_opened_by_navigation_downloads_and_runs_nothing(name, sender, reader):
    mime, body = HOSTILE[name]
    shared = create_secret(sender, "see attachment", files=[
        {"name": name, "mimeType": mime, "buffer": body.encode()}])
    open_link(reader, shared.link)
    read_message(reader)
    expect(reader.get_by_test_id("attachment-name")).to_have_text(name)
    href = reader.get_by_test_id("download").get_attribute("href")
    assert href.startswith("blob:")

    posts = []
    reader.context.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    opened = reader.context.new_page()
    downloads = []
    opened.on("download", lambda download: downloads.append(download))
    try:
        opened.goto(href)
    except PlaywrightError as error:  # a navigation that turns into a download
        assert "Download is starting" in str(error)
    opened.wait_for_timeout(500)  # time for a script, had one run, to send its request
    assert posts == []
    assert opened.title() != "pwned"
    assert [download.suggested_filename for download in downloads] != []


# A browser without native base64 (before Chromium 140): the pages' portable code runs.
WITHOUT_NATIVE_BASE64 = "delete Uint8Array.prototype.toBase64; delete Uint8Array.fromBase64;"


@pytest.mark.parametrize("base64", ["native", "portable"])
def test_attachments_and_a_reply_arrive_byte_for_byte_with_either_base64(
        base64, new_context, tmp_path):
    people = [new_context(), new_context()]
    if base64 == "portable":
        for context in people:
            context.add_init_script(WITHOUT_NATIVE_BASE64)
    sender, reader = (context.new_page() for context in people)
    # Sizes 0..3 mod 3 and one large enough to take many chunks of everything.
    sent = {f"f{n}.bin": os.urandom(size) for n, size in enumerate((0, 1, 2, 3, 700_001))}
    shared = create_secret(sender, "files", files=[
        {"name": name, "mimeType": "application/octet-stream", "buffer": data}
        for name, data in sent.items()])
    open_link(reader, shared.link)
    read_message(reader)
    expect(reader.get_by_test_id("attachment")).to_have_count(len(sent))
    for index, (name, data) in enumerate(sent.items()):
        with reader.expect_download() as info:
            reader.get_by_test_id("download").nth(index).click()
        info.value.save_as(tmp_path / name)
        assert (tmp_path / name).read_bytes() == data, name

    answer = os.urandom(100_002)
    write_reply(reader, "back", files=[
        {"name": "answer.bin", "mimeType": "application/octet-stream", "buffer": answer}])
    assert read_reply(sender, shared.receipt_link) == "back"
    with sender.expect_download() as info:
        sender.get_by_test_id("reply-attachment").get_by_role("link").click()
    info.value.save_as(tmp_path / "answer")
    assert (tmp_path / "answer").read_bytes() == answer


def test_files_dropped_on_the_compose_page_are_listed_and_sent(sender, reader, tmp_path):
    sender.goto("/")
    dropped = sender.evaluate_handle("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["dropped bytes"], "dropped.txt", { type: "text/plain" }));
        return transfer;
    }""")
    zone = sender.get_by_test_id("dropzone")
    zone.dispatch_event("dragover", {"dataTransfer": dropped})
    expect(zone).to_have_class(re.compile(r"\bdragging\b"))
    zone.dispatch_event("drop", {"dataTransfer": dropped})
    expect(zone).not_to_have_class(re.compile(r"\bdragging\b"))
    expect(sender.get_by_test_id("file")).to_have_text(["dropped.txt13 BRemove"])
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("share")).to_be_visible()

    open_link(reader, sender.get_by_test_id("share-link").input_value())
    read_message(reader)
    with reader.expect_download() as info:
        reader.get_by_test_id("download").click()
    info.value.save_as(tmp_path / "saved")
    assert (tmp_path / "saved").read_bytes() == b"dropped bytes"
