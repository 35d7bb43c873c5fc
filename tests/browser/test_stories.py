"""User stories in real Chromium against mayfly under uWSGI."""

from __future__ import annotations

import os
import re

import pytest
import requests
from playwright.sync_api import expect

from mayfly.languages import LANGUAGES

from ..catalogues import translations
from .story import (
    assert_burned,
    choose_language,
    create_secret,
    open_link,
    open_receipt,
    read_message,
)

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

SECRET = "the wifi password is hunter2\n第二行"


def test_message_is_read_once_then_ashes_and_the_receipt_says_read(sender, reader):
    shared = create_secret(sender, SECRET)
    expect(sender.get_by_test_id("qr").locator("svg")).to_be_visible()
    assert open_receipt(sender, shared.receipt_link) == "waiting"

    open_link(reader, shared.link)
    assert read_message(reader) == SECRET
    assert "#" not in reader.url  # the key left the address bar
    expect(reader.get_by_test_id("views-left")).to_be_visible()

    reader.reload()
    assert_burned(reader)
    sender.get_by_test_id("refresh").click()
    expect(sender.get_by_test_id("receipt-state")).to_have_attribute("data-state", "read")


def test_wrong_passphrase_leaves_the_message_then_the_right_one_reads_it(sender, reader):
    shared = create_secret(sender, SECRET, passphrase="correct horse")
    expect(sender.get_by_test_id("share-passphrase")).to_be_visible()

    open_link(reader, shared.link)
    reader.get_by_test_id("passphrase-input").fill("wrong horse")
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("read-hint")).to_contain_text("4 attempts left")
    expect(reader.get_by_test_id("notification")).to_be_visible()

    assert read_message(reader, passphrase="correct horse") == SECRET


def test_five_mib_attachment_round_trips_byte_for_byte(sender, reader, tmp_path):
    data = os.urandom(5 * 1024 * 1024)
    shared = create_secret(sender, "see attachment", files=[
        {"name": "blob.bin", "mimeType": "application/octet-stream", "buffer": data}])

    open_link(reader, shared.link)
    read_message(reader)
    expect(reader.get_by_test_id("attachment-name")).to_have_text("blob.bin")
    with reader.expect_download() as info:
        reader.get_by_test_id("download").click()
    download = info.value
    assert download.suggested_filename == "blob.bin"
    saved = tmp_path / "blob.bin"
    download.save_as(saved)
    assert saved.read_bytes() == data


def test_two_views_allow_two_readers_and_the_third_finds_ashes(sender, new_context):
    shared = create_secret(sender, SECRET, views=2)
    expect(sender.get_by_test_id("share-views")).to_contain_text("2")
    for _ in range(2):
        reader = new_context().new_page()
        open_link(reader, shared.link)
        assert read_message(reader) == SECRET
    expect(reader.get_by_test_id("views-left")).to_have_text(re.compile("last view"))
    third = new_context().new_page()
    third.goto(shared.link)
    assert_burned(third)


def test_a_link_preview_bot_uses_no_view(sender, reader):
    shared = create_secret(sender, SECRET)
    for headers in ({"User-Agent": "Slackbot-LinkExpanding 1.0", "Accept": "text/html"},
                    {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"},
                    {"User-Agent": "python-requests", "Accept": "*/*"}):
        page = requests.get(shared.link, headers=headers, timeout=10)
        assert page.status_code == 200
        assert 'data-testid="notification"' in page.text

    assert open_receipt(sender, shared.receipt_link) == "waiting"
    expect(sender.get_by_test_id("receipt-views")).to_have_text("0 / 1")
    open_link(reader, shared.link)
    assert read_message(reader) == SECRET


def test_every_language_switch_keeps_the_key_and_is_remembered(sender, reader):
    shared = create_secret(sender, SECRET, views=2)
    key = shared.link.split("#")[1]
    others = [language for language in LANGUAGES.values() if language.code != "en"]

    open_link(reader, shared.link)
    for language in [*others, LANGUAGES["en"]]:
        choose_language(reader, language.code)
        heading = translations(language).gettext("You have a new message")
        expect(reader.locator("html")).to_have_attribute("lang", language.tag)
        expect(reader.locator("h1:visible")).to_have_text(heading)
        expect(reader.get_by_test_id("languages").locator("summary")).to_have_text(language.name)
        assert reader.url.endswith("#" + key), language.code

    # The key survived every switch: Read works on this very page, and the
    # script's plural is the language's own.
    most_forms = max(others, key=lambda language: len(language.plural_samples))
    choose_language(reader, most_forms.code)
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("message-text")).to_have_text(SECRET)
    catalogue = translations(most_forms)
    views_left = catalogue.ngettext("%(n)s more view left before it burns.",
                                    "%(n)s more views left before it burns.", 1)
    expect(reader.get_by_test_id("views-left")).to_have_text(views_left % {"n": 1})

    reader.goto("/")  # and the choice is remembered on the next page
    expect(reader.get_by_test_id("compose").locator("h1")).to_have_text(
        catalogue.gettext("Write a message that burns after reading"))


def test_the_language_menu_works_by_keyboard(new_context):
    page = new_context().new_page()
    page.goto("/")
    menu = page.get_by_test_id("languages")
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(menu.locator("summary")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # to the first language that is not the page's
    first = next(language for language in LANGUAGES.values() if language.code != "en")
    expect(page.locator(":focus")).to_have_attribute("lang", first.tag)
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", first.tag)


def test_the_language_menu_works_without_javascript(new_context):
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/")
    choose_language(page, "zh_TW")
    expect(page.locator("html")).to_have_attribute("lang", "zh-TW")
    expect(page.get_by_test_id("noscript")).to_contain_text(
        translations(LANGUAGES["zh_TW"]).gettext("This page needs JavaScript"))


def test_chinese_browser_gets_chinese_pages(new_context):
    page = new_context(locale="zh-CN").new_page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("compose-hint")).to_have_text("请先输入消息或添加附件。")


def test_dark_mode_renders_dark(new_context):
    page = new_context(color_scheme="dark").new_page()
    page.goto("/")
    expect(page.get_by_test_id("compose")).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = map(int, re.findall(r"\d+", background)[:3])
    assert red + green + blue < 3 * 60, background
    text = page.evaluate("getComputedStyle(document.body).color")
    assert sum(map(int, re.findall(r"\d+", text)[:3])) > 3 * 180, text


def test_script_in_the_message_and_file_name_is_shown_as_text(sender, reader):
    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
    name = '<img src=x onerror="window.pwned=1">.html'
    shared = create_secret(sender, payload, files=[
        {"name": name, "mimeType": "text/html", "buffer": payload.encode()}])

    open_link(reader, shared.link)
    assert read_message(reader) == payload
    expect(reader.get_by_test_id("attachment-name")).to_have_text(name)
    expect(reader.get_by_test_id("message").locator("img, script")).to_have_count(0)
    assert reader.evaluate("window.pwned") is None


def test_an_empty_message_gets_a_hint_not_an_alert(sender):
    sender.on("dialog", lambda dialog: (_ for _ in ()).throw(AssertionError(dialog.message)))
    sender.goto("/")
    sender.get_by_test_id("create").click()
    expect(sender.get_by_test_id("compose-hint")).to_be_visible()
    expect(sender.get_by_test_id("compose")).to_be_visible()
    expect(sender.get_by_test_id("message-input")).to_be_focused()


def test_the_sender_burns_it_before_it_is_read(sender, reader):
    shared = create_secret(sender, SECRET)
    open_receipt(sender, shared.receipt_link)
    sender.get_by_test_id("burn").click()
    sender.get_by_test_id("burn-confirm").click()
    expect(sender.get_by_test_id("receipt-state")).to_have_attribute("data-state", "burned")
    reader.goto(shared.link)
    assert_burned(reader)


def test_a_link_cut_short_is_oops_and_spends_nothing(sender, reader):
    shared = create_secret(sender, SECRET)
    reader.goto(shared.link[:-5])
    expect(reader.get_by_test_id("oops")).to_be_visible()
    expect(reader.get_by_test_id("oops-reason")).to_contain_text("incomplete or damaged")
    assert open_receipt(sender, shared.receipt_link) == "waiting"


def test_without_javascript_the_page_explains_why_it_needs_it(new_context):
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/")
    expect(page.get_by_test_id("noscript")).to_be_visible()
    expect(page.get_by_test_id("compose")).not_to_be_visible()
