"""What each view keeps or loses: language switches, the receipt's tab, titles, busy servers."""

from __future__ import annotations

import re

import pytest
from harness.redis_servers import RedisServer
from playwright.sync_api import Page, expect

from ..live import LiveServer
from .story import choose_language, create_secret, open_link, read_message

pytestmark = pytest.mark.slow  # real Chromium and uWSGI


def switch_language(page: Page, code: str = "zh_CN") -> None:
    choose_language(page, code)


def test_switching_language_on_the_share_page_asks_before_losing_the_link(sender):
    shared = create_secret(sender, "a secret")
    switch_language(sender)
    question = sender.get_by_test_id("leave-question")
    expect(question).to_be_visible()
    expect(question).to_contain_text("link")
    sender.get_by_test_id("leave-stay").click()
    expect(question).not_to_be_visible()
    expect(sender.get_by_test_id("share-link")).to_have_value(shared.link)
    expect(sender.locator("html")).to_have_attribute("lang", "en")

    switch_language(sender)
    sender.get_by_test_id("leave-go").click()
    expect(sender.locator("html")).to_have_attribute("lang", "zh-CN")


def test_switching_language_after_reading_asks_before_losing_the_message(sender, reader):
    shared = create_secret(sender, "read once")
    open_link(reader, shared.link)
    read_message(reader)
    switch_language(reader)
    expect(reader.get_by_test_id("leave-question")).to_be_visible()
    reader.keyboard.press("Escape")  # a dialog: Escape stays too
    expect(reader.get_by_test_id("leave-question")).not_to_be_visible()
    expect(reader.get_by_test_id("message-text")).to_have_text("read once")


def test_switching_language_with_a_draft_asks_and_an_empty_page_just_switches(sender):
    sender.goto("/")
    sender.get_by_test_id("message-input").fill("half written")
    switch_language(sender)
    expect(sender.get_by_test_id("leave-question")).to_be_visible()
    sender.get_by_test_id("leave-stay").click()
    expect(sender.get_by_test_id("message-input")).to_have_value("half written")

    sender.get_by_test_id("message-input").fill("")
    switch_language(sender)
    expect(sender.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(sender.get_by_test_id("leave-question")).not_to_be_visible()


def test_switching_language_on_the_notification_keeps_the_key_without_asking(sender, reader):
    shared = create_secret(sender, "not read yet")
    open_link(reader, shared.link)
    switch_language(reader)
    expect(reader.locator("html")).to_have_attribute("lang", "zh-CN")
    assert read_message(reader) == "not read yet"


def test_open_the_receipt_opens_a_new_tab_and_the_link_stays(sender):
    shared = create_secret(sender, "a secret")
    with sender.context.expect_page() as opened:
        sender.get_by_test_id("open-receipt").click()
    receipt = opened.value
    expect(receipt.get_by_test_id("receipt-state")).to_have_attribute("data-state", "waiting")
    assert receipt.url == shared.receipt_link
    expect(sender.get_by_test_id("share-link")).to_have_value(shared.link)


def test_the_page_title_follows_the_view(sender, reader, new_context):
    sender.goto("/")
    expect(sender).to_have_title(re.compile("messages that burn after reading"))
    shared = create_secret(sender, "titled")
    expect(sender).to_have_title("Your secret link is ready · mayfly")
    late = new_context().new_page()
    open_link(late, shared.link)
    open_link(reader, shared.link)
    expect(reader).to_have_title("You have a new message · mayfly")
    read_message(reader)
    expect(reader).to_have_title("Your message · mayfly")
    late.get_by_test_id("read").click()  # too late: this page turns to Ashes
    expect(late.get_by_test_id("ashes")).to_be_visible()
    expect(late).to_have_title("Destroyed · mayfly")
    reader.goto(create_secret(sender, "cut").link[:-4])
    expect(reader.get_by_test_id("oops")).to_be_visible()
    expect(reader).to_have_title("Oops · mayfly")


@pytest.fixture(scope="module")
def create_limited(tmp_path_factory):
    """mayfly that takes one new secret a minute from an address."""
    with LiveServer(tmp_path_factory.mktemp("create-limited"), processes=1,
                    env={"MAYFLY_RATE_LIMIT_CREATE": "1/minute"}) as server:
        yield server


@pytest.fixture(scope="module")
def reveal_limited(tmp_path_factory):
    """mayfly that takes one reveal a minute from an address."""
    with LiveServer(tmp_path_factory.mktemp("reveal-limited"), processes=1,
                    env={"MAYFLY_RATE_LIMIT_REVEAL": "1/minute"}) as server:
        yield server


@pytest.fixture
def on_redis(tmp_path):
    """mayfly on a Redis of its own, which the test may stop."""
    store = RedisServer(tmp_path / "redis").start()
    try:
        with LiveServer(tmp_path / "app", processes=1,
                        env={"MAYFLY_STORAGE_URL": store.url}) as server:
            yield server, store
    finally:
        store.stop()


def test_too_many_creates_say_how_long_to_wait(new_context, create_limited):
    page = new_context(base_url=create_limited.url).new_page()
    create_secret(page, "first")
    page.goto("/")
    page.get_by_test_id("message-input").fill("second")
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("compose-hint")).to_have_text(
        re.compile(r"^Too many tries: wait \d+ seconds?, then try again\.$"))
    expect(page.get_by_test_id("create")).to_be_enabled()


def test_too_many_reads_say_how_long_to_wait_and_keep_the_read_button(new_context,
                                                                     reveal_limited):
    sender = new_context(base_url=reveal_limited.url).new_page()
    shared = create_secret(sender, "patience", passphrase="right")
    reader = new_context(base_url=reveal_limited.url).new_page()
    open_link(reader, shared.link)
    reader.get_by_test_id("passphrase-input").fill("wrong")
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("read-hint")).to_contain_text("4 attempts left")
    reader.get_by_test_id("passphrase-input").fill("right")
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("read-hint")).to_have_text(
        re.compile(r"^Too many tries: wait \d+ seconds?, then try again\.$"))
    expect(reader.get_by_test_id("notification")).to_be_visible()
    expect(reader.get_by_test_id("read")).to_be_enabled()


def test_storage_down_says_so_and_keeps_the_forms(new_context, on_redis):
    server, store = on_redis
    sender = new_context(base_url=server.url).new_page()
    shared = create_secret(sender, "later")
    reader = new_context(base_url=server.url).new_page()
    open_link(reader, shared.link)
    store.stop()
    for page in (sender, reader):
        page.context.watch.allow("status of 503")

    sender.goto("/")
    sender.get_by_test_id("message-input").fill("not now")
    sender.get_by_test_id("create").click()
    unavailable = "The storage is unavailable; nothing was changed. Try again shortly."
    expect(sender.get_by_test_id("compose-hint")).to_have_text(unavailable)
    reader.get_by_test_id("read").click()
    expect(reader.get_by_test_id("read-hint")).to_have_text(unavailable)
    expect(reader.get_by_test_id("read")).to_be_enabled()
