"""Keyboard, focus and what a screen reader hears, in real Chromium."""

from __future__ import annotations

import re

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


def test_focus_moves_to_the_state_after_burning(sender):
    shared = create_secret(sender, "to burn")
    open_receipt(sender, shared.receipt_link)
    sender.get_by_test_id("burn").click()
    expect(sender.get_by_test_id("burn-confirm")).to_have_accessible_description(
        "Burn it now? Nobody will be able to read it.")
    sender.get_by_test_id("burn-confirm").click()
    expect(sender.get_by_test_id("receipt-state")).to_have_attribute("data-state", "burned")
    expect(sender.get_by_test_id("receipt-state")).to_be_focused()


def test_focus_moves_to_the_next_file_after_remove_then_to_attach(sender):
    sender.goto("/")
    sender.get_by_test_id("file-input").set_input_files([
        {"name": name, "mimeType": "text/plain", "buffer": b"x"} for name in ("a.txt", "b.txt")])
    sender.get_by_role("button", name="Remove: a.txt").click()
    expect(sender.get_by_role("button", name="Remove: b.txt")).to_be_focused()
    sender.get_by_role("button", name="Remove: b.txt").press("Enter")
    expect(sender.get_by_test_id("file")).to_have_count(0)
    expect(sender.get_by_test_id("file-input")).to_be_focused()


def test_focus_stays_on_the_form_after_a_network_error(sender, reader):
    sender.goto("/")
    sender.get_by_test_id("message-input").fill("offline")
    sender.context.watch.allow("net::ERR_FAILED")
    sender.route("**/api/v1/secrets", lambda route: route.abort())
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("compose-hint")).to_contain_text("cannot be reached")
    expect(sender.get_by_test_id("create")).to_be_focused()
    sender.unroute("**/api/v1/secrets")

    shared = create_secret(sender, "offline")
    open_link(reader, shared.link)
    reader.context.watch.allow("net::ERR_FAILED")
    reader.route("**/api/v1/secrets/**", lambda route: route.abort())
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("read-hint")).to_contain_text("cannot be reached")
    expect(reader.get_by_test_id("read")).to_be_focused()


def test_copy_is_announced_and_the_two_copy_buttons_have_their_own_names(new_context):
    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    shared = create_secret(page, "to copy")
    expect(page.get_by_role("button", name="Copy Secret link")).to_be_visible()
    expect(page.get_by_role("button", name="Copy Receipt link")).to_be_visible()
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_have_count(1)
    assert page.evaluate("navigator.clipboard.readText()") == shared.link


def test_a_failed_copy_is_announced(sender):
    create_secret(sender, "to copy")
    sender.evaluate("() => { navigator.clipboard.writeText = async () => { throw new Error(); }; }")
    sender.get_by_test_id("copy-receipt").click()
    expect(sender.locator("#announce")).to_have_text(re.compile("Could not copy"))
    expect(sender.get_by_test_id("receipt-link")).to_be_focused()  # selected, to copy by hand


def test_show_hide_and_the_qr_code_are_announced_once(sender):
    create_secret(sender, "qr")
    expect(sender.get_by_role("img", name="QR code of the secret link")).to_have_count(1)
    assert sender.get_by_test_id("share").aria_snapshot().count("QR code") == 1
    sender.goto("/")
    toggle = sender.locator("[data-toggle-password]")
    toggle.click()
    expect(toggle).to_have_text("Hide")
    expect(toggle).to_match_aria_snapshot('- button "Hide"')


def test_a_file_at_the_limit_says_which_limit_in_one_unit(sender, tmp_path):
    ten = tmp_path / "ten.bin"
    ten.write_bytes(bytes(10 << 20))
    sender.goto("/")
    size = sender.get_by_test_id("size")
    expect(size).to_have_text(re.compile(r"^Encrypted size: \d+ B of the 10 MiB limit$"))
    sender.get_by_test_id("file-input").set_input_files(ten)
    # Encryption adds a little: both numbers in one unit, as precise as it takes to differ.
    shown = re.fullmatch(r"Encrypted size: ([\d,.]+) (\w+) of the ([\d,.]+) \2 limit",
                         size.text_content())
    assert shown, size.text_content()
    used, unit, limit = shown[1], shown[2], shown[3]
    assert float(used.replace(",", "")) > float(limit.replace(",", ""))
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("compose-hint")).to_have_text(
        f"Too large: encrypted, this comes to {used} {unit}, over the {limit} {unit} limit.")


def test_english_counts_use_singular_and_plural(sender):
    create_secret(sender, "once")
    expect(sender.get_by_test_id("share-views")).to_have_text("Can be read 1 time.")
    create_secret(sender, "twice", views=2)
    expect(sender.get_by_test_id("share-views")).to_have_text("Can be read 2 times.")
