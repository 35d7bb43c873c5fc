"""Requests in real Chromium: ask, answer once (even when two answer at once), read once.

Browser to browser, browser to CLI and CLI to browser.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .story import (
    ask_for_secret,
    assert_burned,
    open_request,
    read_answer,
    request_state,
    write_answer,
)
from .test_replies import mayfly

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

NOTE = "the staging database password, please: 数据库密码"
ANSWER = "hunter2 <b>&amp;</b> 密码"


def test_a_request_is_answered_and_read_in_browsers_once(sender, reader, tmp_path):
    asked = ask_for_secret(sender, NOTE)
    assert "/q/" in asked.link and "/a/" in asked.answer_link
    assert request_state(sender, asked.answer_link) == "waiting"
    assert open_request(reader, asked.link) == NOTE
    write_answer(reader, ANSWER, files=[
        {"name": "staging.env", "mimeType": "text/plain", "buffer": b"DB=\x00\xff"}])
    expect(reader.get_by_test_id("answer-sent")).to_be_visible()

    assert read_answer(sender, asked.answer_link) == ANSWER
    with sender.expect_download() as info:
        sender.get_by_test_id("answer-attachment").get_by_role("link").click()
    info.value.save_as(tmp_path / "saved")
    assert (tmp_path / "saved").read_bytes() == b"DB=\x00\xff"
    assert "#" not in sender.url  # the answer link's keys left the address bar

    assert request_state(sender, asked.answer_link) == "read"
    expect(sender.get_by_test_id("read-answer")).to_be_hidden()
    reader.reload()  # the request ended with its answer read
    assert_burned(reader)


def test_two_people_answer_at_once_one_wins_the_other_keeps_their_text(sender, new_context):
    asked = ask_for_secret(sender, "who has the key?")
    people = {"the key is under the mat": new_context().new_page(),
              "I have it: 4711": new_context().new_page()}
    held = []
    for text, page in people.items():
        assert open_request(page, asked.link) == "who has the key?"
        page.get_by_test_id("answer-input").fill(text)
        # Each page's answer is held at the network until both are in flight.
        page.route("**/api/v1/requests/*/answer", lambda route: held.append(route))
    for page in people.values():
        page.get_by_test_id("answer-send").click()
    while len(held) < 2:
        sender.wait_for_timeout(20)
    for route in held:  # released together: the server sees two answers at once
        route.continue_()
    won = []
    for text, page in people.items():
        outcome = page.locator("[data-testid=answer-sent]:visible, "
                               "[data-testid=answer-hint]:visible")
        expect(outcome).to_have_count(1)
        if page.get_by_test_id("answer-sent").is_visible():
            won.append(text)
            continue
        expect(page.get_by_test_id("answer-hint")).to_have_text(
            "Someone has already answered this request: your answer was not sent. What you "
            "wrote is still here.")
        expect(page.get_by_test_id("answer-input")).to_have_value(text)
        expect(page.get_by_test_id("answer-send")).to_be_enabled()
    assert len(won) == 1
    assert read_answer(sender, asked.answer_link) == won[0]


def test_a_late_visitor_is_told_the_request_was_answered(sender, reader, new_context):
    asked = ask_for_secret(sender, "one answer only")
    open_request(reader, asked.link)
    write_answer(reader, "done")
    expect(reader.get_by_test_id("answer-sent")).to_be_visible()
    late = new_context().new_page()
    late.goto(asked.link)
    expect(late.get_by_test_id("already-answered")).to_be_visible()
    assert request_state(sender, asked.answer_link) == "answered"


def test_a_passphrase_request_opens_only_with_it(sender, reader):
    asked = ask_for_secret(sender, "behind a passphrase", passphrase="open sesame")
    reader.goto(asked.link)
    reader.get_by_test_id("passphrase-input").fill("wrong")
    reader.get_by_test_id("open-request").click()
    expect(reader.get_by_test_id("open-hint")).to_have_text("Wrong passphrase, 4 attempts left.")
    assert open_request(reader, asked.link, passphrase="open sesame") == "behind a passphrase"
    write_answer(reader, "42")
    expect(reader.get_by_test_id("answer-sent")).to_be_visible()
    assert read_answer(sender, asked.answer_link) == "42"


def test_a_browser_request_is_answered_with_the_cli(sender):
    asked = ask_for_secret(sender, NOTE)
    answered = mayfly("answer", asked.link, stdin=ANSWER)
    assert answered.returncode == 0, answered.stderr
    assert NOTE in answered.stderr
    assert read_answer(sender, asked.answer_link) == ANSWER


def test_a_request_answered_in_the_browser_is_read_with_the_cli(sender, reader):
    asked = ask_for_secret(sender, NOTE)
    open_request(reader, asked.link)
    write_answer(reader, ANSWER)
    expect(reader.get_by_test_id("answer-sent")).to_be_visible()
    assert "answered at" in mayfly("status", asked.answer_link).stdout
    read = mayfly("read", asked.answer_link)
    assert read.returncode == 0, read.stderr
    assert read.stdout.rstrip("\n") == ANSWER


def test_a_cli_request_is_answered_in_the_browser_and_read_in_the_browser(web_server, reader,
                                                                          sender):
    asked = mayfly("ask", NOTE, "--server", web_server.url)
    assert asked.returncode == 0, asked.stderr
    link, answer_link = asked.stdout.split()
    assert open_request(reader, link) == NOTE
    write_answer(reader, ANSWER)
    expect(reader.get_by_test_id("answer-sent")).to_be_visible()
    assert read_answer(sender, answer_link) == ANSWER


def test_the_asker_can_burn_a_request(sender, reader):
    asked = ask_for_secret(sender, "never mind")
    request_state(sender, asked.answer_link)
    sender.get_by_test_id("burn").click()
    sender.get_by_test_id("burn-confirm").click()
    expect(sender.get_by_test_id("request-state")).to_have_attribute("data-state", "burned")
    reader.goto(asked.link)
    assert_burned(reader)


@pytest.mark.parametrize(("replies", "says"), [
    ([], "Expired at .* without an answer."),
    ([{"number": 1, "created_at": "2026-11-30T09:00:00Z", "read_at": None}],
     "Expired at .*: the answer was not read in time."),
])
def test_the_answer_link_says_when_a_request_expired(sender, replies, says):
    asked = ask_for_secret(sender, "too slow")
    page = sender.context.new_page()

    def expired(route):  # the server's receipt, as it reads once the lifetime is over
        receipt = route.fetch().json()
        receipt.update(state="expired", ended_at=receipt["expires_at"], replies=replies)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(receipt))

    page.route("**/api/v1/secrets/*/receipt", expired)
    assert request_state(page, asked.answer_link) == "expired"
    expect(page.get_by_test_id("request-state")).to_have_text(re.compile(says))
    expect(page.get_by_test_id("read-answer")).to_be_hidden()
    expect(page.get_by_test_id("burn")).to_be_hidden()
