"""The answer link page updates by itself, as the receipt page does (watch.js).

Real Chromium against real uWSGI; the page's timers are driven with
Playwright's clock, and its receipt requests counted through network events.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .story import ask_for_secret, open_request, read_answer, write_answer
from .test_receipt_live import ReceiptPolls, let_time_pass, set_hidden, state_pattern

pytestmark = pytest.mark.slow  # real Chromium and uWSGI


def open_watched_answer_link(page: Page, answer_link: str) -> ReceiptPolls:
    """Open an answer link on a page whose clock the test drives; see it watching."""
    polls = ReceiptPolls(page)
    page.clock.install()
    page.goto(answer_link)
    expect(page.get_by_test_id("request-state")).to_have_attribute("data-state", "waiting")
    expect(page.get_by_test_id("request-watch")).to_have_attribute("data-watch", "on")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    return polls


def answer_elsewhere(new_context, link: str, text: str) -> None:
    """Someone else opens the request link and sends an answer."""
    page = new_context().new_page()
    open_request(page, link)
    write_answer(page, text)
    expect(page.get_by_test_id("answer-sent")).to_be_visible()


@pytest.mark.parametrize("locale, code", [("en-US", "en"), ("zh-CN", "zh_CN")])
def test_the_answer_link_turns_answered_without_a_reload(new_context, locale, code):
    asker = new_context(locale=locale).new_page()
    asked = ask_for_secret(asker, "the wifi password, please")
    polls = open_watched_answer_link(asker, asked.answer_link)
    state = asker.get_by_test_id("request-state")
    expect(state).to_have_attribute("aria-live", "polite")
    let_time_pass(asker, polls, 5_000)
    assert 304 in polls.answers, "an unchanged request is answered 304"

    answer_elsewhere(new_context, asked.link, "correct horse")
    let_time_pass(asker, polls)
    expect(state).to_have_attribute("data-state", "answered")
    # Announced in the page's language, through the state's live region.
    expect(state).to_have_text(state_pattern(
        code, "Answered at %(when)s. The answer burns as you read it."))
    expect(asker.get_by_test_id("read-answer")).to_be_visible()
    expect(asker.get_by_test_id("request-watch")).to_have_attribute("data-watch", "on")
    assert asker.evaluate("window.sameDocument") is True  # no reload
    assert polls.asked[0] is None and all(polls.asked[1:]), "all but the first are conditional"

    asker.get_by_test_id("read-answer").click()
    expect(asker.get_by_test_id("answer-text")).to_have_text("correct horse")
    # Read here: nothing can change, so nothing more is asked, and the answer stays.
    expect(asker.get_by_test_id("request-watch")).to_have_attribute("data-watch", "final")
    asked_so_far = len(polls)
    let_time_pass(asker, polls)
    let_time_pass(asker, polls)
    assert len(polls) == asked_so_far
    expect(asker.get_by_test_id("answer-text")).to_have_text("correct horse")


def test_an_answer_read_elsewhere_shows_read_and_polling_stops(new_context):
    asker = new_context().new_page()
    asked = ask_for_secret(asker, "read on the other device")
    polls = open_watched_answer_link(asker, asked.answer_link)
    answer_elsewhere(new_context, asked.link, "42")
    let_time_pass(asker, polls)
    expect(asker.get_by_test_id("request-state")).to_have_attribute("data-state", "answered")

    assert read_answer(new_context().new_page(), asked.answer_link) == "42"
    let_time_pass(asker, polls)
    expect(asker.get_by_test_id("request-state")).to_have_attribute("data-state", "read")
    expect(asker.get_by_test_id("read-answer")).to_be_hidden()
    expect(asker.get_by_test_id("request-watch")).to_have_attribute("data-watch", "final")
    asked_so_far = len(polls)
    let_time_pass(asker, polls)
    assert len(polls) == asked_so_far


def test_a_hidden_answer_link_asks_nothing_and_looks_at_once_when_shown(new_context):
    asker = new_context().new_page()
    asked = ask_for_secret(asker, "answer while I look away")
    polls = open_watched_answer_link(asker, asked.answer_link)
    set_hidden(asker, True)
    asked_so_far = len(polls)
    answer_elsewhere(new_context, asked.link, "meanwhile")
    let_time_pass(asker, polls)
    assert len(polls) == asked_so_far
    expect(asker.get_by_test_id("request-state")).to_have_attribute("data-state", "waiting")

    set_hidden(asker, False)
    expect(asker.get_by_test_id("request-state")).to_have_attribute("data-state", "answered")
    assert len(polls) == asked_so_far + 1
