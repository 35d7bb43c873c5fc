"""Attachments in real Chromium: what a hostile sender's file can and cannot do."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from .story import create_secret, open_link, read_message

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
