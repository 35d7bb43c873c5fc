"""The receipt page updates by itself: polled with ETags, paused while hidden, stopped at the end.

Real Chromium against real uWSGI; the page's own requests are counted through
its network events, and its timers are driven with Playwright's clock instead
of waiting for them.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from mayfly.languages import LANGUAGES

from ..catalogues import translations
from .story import create_secret, open_link, read_message, write_reply

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

LATER = 60 * 60_000  # an hour of page time, far beyond the longest pause


class ReceiptPolls:
    """The receipt requests a page makes, with what each asked and got."""

    def __init__(self, page: Page):
        self.asked: list[str | None] = []  # the If-None-Match of each request
        self.answers: list[int] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request) -> None:
        if request.url.endswith("/receipt"):
            self.asked.append(request.headers.get("if-none-match"))
            assert "#" not in request.url and request.headers.get("authorization", "") \
                .startswith("Bearer "), "the token goes in the header, never the URL"

    def _response(self, response) -> None:
        if response.url.endswith("/receipt"):
            self.answers.append(response.status)

    def __len__(self) -> int:
        return len(self.asked)


def open_watched_receipt(page: Page, receipt_link: str) -> ReceiptPolls:
    """Open a receipt link on a page whose clock the test drives; see it watching."""
    polls = ReceiptPolls(page)
    page.clock.install()
    page.goto(receipt_link)
    expect(page.get_by_test_id("receipt-watch")).to_have_attribute("data-watch", "on")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    return polls


def let_time_pass(page: Page, polls: ReceiptPolls, ms: int = LATER) -> None:
    """Run the page's timers for ``ms`` of page time, and let the requests they make land."""
    page.clock.run_for(ms)
    page.wait_for_timeout(300)  # real time, for a request just made to be seen
    for _ in range(200):  # and for every answer to arrive (ten seconds at most)
        if len(polls.answers) == len(polls):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{len(polls)} receipt requests, {len(polls.answers)} answers")


def set_hidden(page: Page, hidden: bool) -> None:
    """Send the tab to the back, or bring it forward, as far as the page can tell.

    Headless Chromium reports every tab visible whichever is in front, so the
    document's visibility is overridden and the event a browser fires is fired.
    """
    page.evaluate("""hidden => {
        for (const [name, value] of [["hidden", hidden],
                                     ["visibilityState", hidden ? "hidden" : "visible"]]) {
            Object.defineProperty(document, name, { configurable: true, get: () => value });
        }
        document.dispatchEvent(new Event("visibilitychange"));
    }""", hidden)


def state_pattern(code: str, msgid: str) -> re.Pattern:
    """A state sentence as the language says it, any time in place of %(when)s."""
    text = translations(LANGUAGES[code]).gettext(msgid)
    return re.compile("^" + re.escape(text).replace(re.escape("%(when)s"), ".+") + "$")


@pytest.mark.parametrize("locale, code", [("en-US", "en"), ("zh-CN", "zh_CN")])
def test_the_receipt_turns_read_without_a_reload_and_then_stops_asking(
        new_context, reader, locale, code):
    sender = new_context(locale=locale).new_page()
    shared = create_secret(sender, "read me while you watch")
    page = new_context(locale=locale).new_page()
    polls = open_watched_receipt(page, shared.receipt_link)
    state = page.get_by_test_id("receipt-state")
    expect(state).to_have_attribute("aria-live", "polite")
    let_time_pass(page, polls, 5_000)
    assert 304 in polls.answers, "an unchanged receipt is answered 304"

    open_link(reader, shared.link)
    read_message(reader)
    let_time_pass(page, polls)
    expect(state).to_have_attribute("data-state", "read")
    # Announced in the page's language, through the state's live region.
    expect(state).to_have_text(state_pattern(code, "Read at %(when)s. The message is destroyed."))
    assert page.evaluate("window.sameDocument") is True  # no reload
    assert polls.asked[0] is None and all(polls.asked[1:]), "all but the first are conditional"


def test_polling_stops_once_nothing_can_change(sender, reader, new_context):
    shared = create_secret(sender, "no answer wanted", reply=False)
    page = new_context().new_page()
    polls = open_watched_receipt(page, shared.receipt_link)
    open_link(reader, shared.link)
    read_message(reader)
    let_time_pass(page, polls)
    expect(page.get_by_test_id("receipt-state")).to_have_attribute("data-state", "read")
    expect(page.get_by_test_id("receipt-watch")).to_have_attribute("data-watch", "final")
    asked = len(polls)
    let_time_pass(page, polls)  # an hour more: nothing is asked any more
    let_time_pass(page, polls)
    assert len(polls) == asked


def test_a_hidden_page_asks_nothing_and_looks_at_once_when_shown(sender, reader, new_context):
    shared = create_secret(sender, "read while the tab is at the back", reply=False)
    page = new_context().new_page()
    polls = open_watched_receipt(page, shared.receipt_link)
    set_hidden(page, True)
    asked = len(polls)
    open_link(reader, shared.link)
    read_message(reader)
    let_time_pass(page, polls)
    assert len(polls) == asked
    expect(page.get_by_test_id("receipt-state")).to_have_attribute("data-state", "waiting")

    set_hidden(page, False)  # no timer needed: showing the tab looks at once
    expect(page.get_by_test_id("receipt-state")).to_have_attribute("data-state", "read")
    assert len(polls) == asked + 1


def test_replies_arrive_by_themselves_and_one_opened_stays_on_screen(sender, new_context):
    shared = create_secret(sender, "two of you, answer me", views=2)
    page = new_context().new_page()
    polls = open_watched_receipt(page, shared.receipt_link)
    count = page.get_by_test_id("replies-count")
    expect(count).to_have_attribute("aria-live", "polite")

    first = new_context().new_page()
    open_link(first, shared.link)
    read_message(first)
    write_reply(first, "first answer")
    let_time_pass(page, polls)
    expect(count).to_have_text("1 reply")
    page.get_by_test_id("reply-open").click()
    expect(page.get_by_test_id("reply-text")).to_have_text("first answer")

    second = new_context().new_page()
    open_link(second, shared.link)
    read_message(second)
    write_reply(second, "second answer")
    let_time_pass(page, polls)
    expect(count).to_have_text("2 replies")
    # The first reply burned as it opened: its text is still here, and the second waits.
    expect(page.get_by_test_id("reply-text")).to_have_text("first answer")
    expect(page.get_by_test_id("reply-open")).to_have_count(1)
    # Both views and both replies are spent: nothing more can change.
    expect(page.get_by_test_id("receipt-watch")).to_have_attribute("data-watch", "final")
