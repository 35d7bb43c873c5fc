"""Keyboard, focus and what a screen reader hears, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .story import create_secret, open_link, open_receipt, read_message

pytestmark = pytest.mark.slow  # real Chromium and uWSGI


def skip_to_content(page: Page) -> None:
    """Tab to the first link on the page, the skip link, and follow it."""
    page.locator("body").focus()
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")


def test_skip_to_content_keeps_the_link_key_and_moves_focus(sender, reader):
    shared = create_secret(sender, "kept")
    open_link(reader, shared.link)
    skip_to_content(reader)
    expect(reader.locator("main")).to_be_focused()
    assert reader.url == shared.link
    reader.reload()  # the key is still there: Read works
    assert read_message(reader) == "kept"


def test_skip_to_content_keeps_the_receipt_token(sender):
    shared = create_secret(sender, "kept")
    open_receipt(sender, shared.receipt_link)
    skip_to_content(sender)
    expect(sender.locator("main")).to_be_focused()
    assert sender.url == shared.receipt_link
