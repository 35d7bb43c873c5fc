"""What a person does in mayfly's pages, as helpers the browser stories read with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import Page, expect


@dataclass(frozen=True)
class Shared:
    """What the share page hands the sender."""

    link: str
    receipt_link: str


def create_secret(page: Page, text: str = "", *, files: list[dict] | None = None,
                  passphrase: str | None = None, views: int = 1, reply: bool = True) -> Shared:
    """Open compose, write, attach, choose; press Create; return the links shown."""
    page.goto("/")
    page.get_by_test_id("message-input").fill(text)
    if files:
        page.get_by_test_id("file-input").set_input_files(files)
        expect(page.get_by_test_id("file")).to_have_count(len(files))
    if views != 1:
        page.get_by_test_id("views").fill(str(views))
    if passphrase is not None:
        page.get_by_test_id("passphrase").fill(passphrase)
    if not reply:
        page.get_by_test_id("allow-reply").uncheck()
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("share")).to_be_visible()
    link = page.get_by_test_id("share-link").input_value()
    receipt = page.get_by_test_id("receipt-link").input_value()
    return Shared(link, receipt)


def open_link(page: Page, link: str) -> None:
    """Open a message link: the notification, nothing spent yet."""
    page.goto(link)
    expect(page.get_by_test_id("notification")).to_be_visible()


def read_message(page: Page, passphrase: str | None = None) -> str:
    """Press Read (typing the passphrase first, if given); return the text shown."""
    if passphrase is not None:
        page.get_by_test_id("passphrase-input").fill(passphrase)
    page.get_by_test_id("read").click()
    expect(page.get_by_test_id("message")).to_be_visible()
    return page.get_by_test_id("message-text").text_content()


def assert_burned(page: Page) -> None:
    """The Ashes page: the message is gone."""
    expect(page.get_by_test_id("ashes")).to_be_visible()
    expect(page.get_by_test_id("message-text")).not_to_be_visible()


def open_receipt(page: Page, receipt_link: str) -> str:
    """Open the receipt link; return the message's state (waiting, read, burned...)."""
    page.goto(receipt_link)
    state = page.get_by_test_id("receipt-state")
    expect(state).to_have_attribute("data-state", re.compile(r"\w+"))
    return state.get_attribute("data-state")


def write_reply(page: Page, text: str, *, files: list[dict] | None = None) -> None:
    """Under the message just read: press Reply, write, attach, send; see it sent."""
    page.get_by_test_id("reply").click()
    page.get_by_test_id("reply-input").fill(text)
    if files:
        page.get_by_test_id("reply-file-input").set_input_files(files)
        expect(page.get_by_test_id("reply-file")).to_have_count(len(files))
    page.get_by_test_id("reply-send").click()
    expect(page.get_by_test_id("reply-sent")).to_be_visible()


def read_reply(page: Page, receipt_link: str, count: str = "1 reply") -> str:
    """Open the receipt, see how many replies came, read the first unread one; return it."""
    page.goto(receipt_link)
    expect(page.get_by_test_id("replies-count")).to_have_text(count)
    page.get_by_test_id("reply-open").first.click()
    text = page.get_by_test_id("reply-text").first
    expect(text).to_be_visible()
    return text.text_content()


def choose_language(page: Page, code: str) -> None:
    """Open the language menu and pick a language by its code (zh_TW)."""
    page.get_by_test_id("languages").locator("summary").click()
    page.get_by_test_id(f"lang-{code}").click()


@dataclass(frozen=True)
class Asked:
    """What the ask page hands the asker."""

    link: str
    answer_link: str


def ask_for_secret(page: Page, note: str, *, passphrase: str | None = None) -> Asked:
    """Open the ask page, write the note, press Create; return the request and answer links."""
    page.goto("/ask")
    page.get_by_test_id("note-input").fill(note)
    if passphrase is not None:
        page.get_by_test_id("passphrase").fill(passphrase)
    page.get_by_test_id("create-request").click()
    expect(page.get_by_test_id("asked")).to_be_visible()
    return Asked(page.get_by_test_id("request-link").input_value(),
                 page.get_by_test_id("answer-link").input_value())


def open_request(page: Page, link: str, passphrase: str | None = None) -> str:
    """Open a request link (typing the passphrase if given); return the note shown."""
    page.goto(link)
    if passphrase is not None:
        page.get_by_test_id("passphrase-input").fill(passphrase)
        page.get_by_test_id("open-request").click()
    note = page.get_by_test_id("request-note")
    expect(note).to_be_visible()
    return note.text_content()


def write_answer(page: Page, text: str, *, files: list[dict] | None = None) -> None:
    """On an open request: write the answer, attach files, press Send (the outcome not awaited)."""
    page.get_by_test_id("answer-input").fill(text)
    if files:
        page.get_by_test_id("answer-file-input").set_input_files(files)
        expect(page.get_by_test_id("answer-file")).to_have_count(len(files))
    page.get_by_test_id("answer-send").click()


def request_state(page: Page, answer_link: str) -> str:
    """Open the answer link (again: a reload); return the state (waiting, answered, read...)."""
    if page.url == answer_link:
        page.reload()  # going to the same URL with its fragment would not load it anew
    else:
        page.goto(answer_link)
    state = page.get_by_test_id("request-state")
    expect(state).to_have_attribute("data-state", re.compile(r"\w+"))
    return state.get_attribute("data-state")


def read_answer(page: Page, answer_link: str) -> str:
    """Open the answer link, press Read the answer; return the answer's text."""
    assert request_state(page, answer_link) == "answered"
    page.get_by_test_id("read-answer").click()
    text = page.get_by_test_id("answer-text")
    expect(text).to_be_visible()
    return text.text_content()
