"""axe-core over every page state: each view, both languages, both themes, phone and desktop.

axe is injected through the DevTools protocol (Runtime.evaluate), not as a
script tag: the page's CSP and Trusted Types stay exactly as users get them.
"""

from __future__ import annotations

import itertools
import re
from importlib.resources import files

import pytest
from playwright.sync_api import Page, Route, expect

from .story import (
    ask_for_secret,
    create_secret,
    open_link,
    open_request,
    read_message,
    request_state,
)

pytestmark = pytest.mark.slow  # real Chromium and uWSGI

AXE_SOURCE = files("axe_playwright_python").joinpath("axe.min.js").read_text()
RUN_AXE = """axe.run(document, {resultTypes: ["violations"]}).then((result) =>
  result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" "))
    .join(", ")}`))"""
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
VARIANTS = list(itertools.product(["en-US", "zh-CN"], ["light", "dark"], VIEWPORTS))
LONG_TEXT = "\n".join(f"line {n}: the spare key is under the blue flower pot" for n in range(120))
PASSPHRASE = "blue flower"


class Audit:
    """Runs axe on a page's current state and keeps what it found, by state."""

    def __init__(self):
        self.found: dict[str, list[str]] = {}
        self.states: list[str] = []

    def __call__(self, page: Page, state: str) -> None:
        cdp = page.context.new_cdp_session(page)
        try:
            if not cdp.send("Runtime.evaluate", {"expression": "typeof axe === 'object'",
                                                 "returnByValue": True})["result"]["value"]:
                cdp.send("Runtime.evaluate", {"expression": AXE_SOURCE})
            answer = cdp.send("Runtime.evaluate", {"expression": RUN_AXE, "awaitPromise": True,
                                                   "returnByValue": True})
        finally:
            cdp.detach()
        assert "exceptionDetails" not in answer, answer
        self.states.append(state)
        if answer["result"]["value"]:
            self.found[state] = answer["result"]["value"]


def as_without_javascript(route: Route) -> None:
    """Serve a page as a browser without JavaScript shows it: no scripts, <noscript> shown.

    axe needs JavaScript, and a page whose scripts are disabled runs no timer,
    not even for DevTools; so the server's real page (headers, CSP and all) is
    stripped of its scripts, and its <noscript> content is laid out as such a
    browser lays it out.
    """
    response = route.fetch()
    if route.request.resource_type != "document":
        route.fulfill(response=response)
        return
    html = re.sub(r"<script\b.*?</script>", "", response.text(), flags=re.S)
    html = html.replace("<noscript>", "<div>").replace("</noscript>", "</div>")
    route.fulfill(response=response, body=html)


def visit_sender(page: Page, audit: Audit) -> tuple[str, str]:
    """Compose (empty, with a hint, filled), share, the question before leaving.

    Returns the link and its receipt link.
    """
    page.goto("/")
    expect(page.get_by_test_id("compose")).to_be_visible()
    audit(page, "compose")
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("compose-hint")).to_be_visible()
    audit(page, "compose with a hint")
    page.get_by_test_id("message-input").fill(LONG_TEXT)
    page.get_by_test_id("file-input").set_input_files(
        [{"name": "floor-plan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF" * 900}])
    page.get_by_test_id("passphrase").fill(PASSPHRASE)
    page.locator("[data-toggle-password]").click()
    audit(page, "compose filled")
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("share")).to_be_visible()
    audit(page, "share")
    page.get_by_test_id("languages").locator("summary").click()
    page.locator("a[data-keep-hash]").first.click()
    expect(page.get_by_test_id("leave-question")).to_be_visible()
    audit(page, "share: the question before a language switch")
    page.get_by_test_id("leave-stay").click()
    return (page.get_by_test_id("share-link").input_value(),
            page.get_by_test_id("receipt-link").input_value())


def visit_reader(page: Page, link: str, other_link: str, audit: Audit) -> None:
    """Notification (with a wrong passphrase), message, the reply, then Ashes and Oops."""
    open_link(page, link)
    audit(page, "notification")
    page.get_by_test_id("passphrase-input").fill("wrong")
    page.get_by_test_id("read").click()
    expect(page.get_by_test_id("read-hint")).to_be_visible()
    audit(page, "notification with a hint")
    read_message(page, PASSPHRASE)
    expect(page.get_by_test_id("attachment")).to_have_count(1)
    audit(page, "message")
    page.get_by_test_id("reply").click()
    expect(page.get_by_test_id("reply-input")).to_be_visible()
    audit(page, "reply composer")
    page.get_by_test_id("reply-input").fill("thanks, got it")
    page.get_by_test_id("reply-send").click()
    expect(page.get_by_test_id("reply-sent")).to_be_visible()
    audit(page, "reply sent")
    page.reload()
    expect(page.get_by_test_id("ashes")).to_be_visible()
    audit(page, "ashes")
    page.goto(other_link[:-6])
    expect(page.get_by_test_id("oops")).to_be_visible()
    audit(page, "oops: damaged link")


def visit_reply(page: Page, receipt: str, audit: Audit) -> None:
    """The receipt of a message that was read and answered, then the reply opened."""
    page.goto(receipt)
    expect(page.get_by_test_id("replies-count")).to_have_text(re.compile(r"\S"))
    audit(page, "receipt with a reply")
    page.get_by_test_id("reply-open").first.click()
    expect(page.get_by_test_id("reply-text").first).to_be_visible()
    audit(page, "reply read")


def visit_receipt(page: Page, receipt: str, audit: Audit) -> None:
    """The receipt waiting, after a failed check, with the burn question, and burned."""
    page.goto(receipt)
    expect(page.get_by_test_id("receipt-state")).to_have_attribute("data-state", "waiting")
    audit(page, "receipt")
    page.context.watch.allow("status of 503")
    page.route("**/receipt", lambda route: route.fulfill(status=503, body="{}"))
    page.get_by_test_id("refresh").click()
    expect(page.get_by_test_id("receipt-watch")).to_have_attribute("data-watch", "retry")
    audit(page, "receipt: a check failed")
    page.unroute("**/receipt")
    page.get_by_test_id("burn").click()
    expect(page.get_by_test_id("burn-confirm")).to_be_visible()
    audit(page, "receipt: burn question")
    page.get_by_test_id("burn-confirm").click()
    expect(page.get_by_test_id("receipt-state")).to_have_attribute("data-state", "burned")
    audit(page, "receipt burned")


def visit_request(asker: Page, first: Page, second: Page, audit: Audit) -> None:
    """Ask (empty with a hint, done), the request, the refused second answer, the answer link."""
    asker.goto("/ask")
    expect(asker.get_by_test_id("ask")).to_be_visible()
    audit(asker, "ask")
    asker.get_by_test_id("create-request").click()
    expect(asker.get_by_test_id("ask-hint")).to_be_visible()
    audit(asker, "ask with a hint")
    asked = ask_for_secret(asker, "the staging database password, please",
                           passphrase=PASSPHRASE)
    audit(asker, "asked: the two links")
    assert request_state(asker, asked.answer_link) == "waiting"
    audit(asker, "answer link: waiting")
    first.goto(asked.link)
    expect(first.get_by_test_id("open-request")).to_be_visible()
    audit(first, "request: passphrase")
    for page in (first, second):
        open_request(page, asked.link, passphrase=PASSPHRASE)
        page.get_by_test_id("answer-input").fill(LONG_TEXT[:400])
    audit(first, "request: note and answer")
    first.get_by_test_id("answer-send").click()
    expect(first.get_by_test_id("answer-sent")).to_be_visible()
    audit(first, "answer sent")
    second.get_by_test_id("answer-send").click()
    expect(second.get_by_test_id("answer-hint")).to_be_visible()
    audit(second, "request: already answered, the text kept")
    second.reload()
    second.get_by_test_id("passphrase-input").fill(PASSPHRASE)
    second.get_by_test_id("open-request").click()
    expect(second.get_by_test_id("already-answered")).to_be_visible()
    audit(second, "request already answered")
    assert request_state(asker, asked.answer_link) == "answered"
    audit(asker, "answer link: answered")
    asker.get_by_test_id("read-answer").click()
    expect(asker.get_by_test_id("answer-text")).to_be_visible()
    audit(asker, "answer read")


def visit_error_pages(page: Page, audit: Audit) -> None:
    """The server's own Ashes (404) and Oops (405) pages."""
    page.goto("/s/no-such-secret")
    expect(page.get_by_test_id("ashes")).to_be_visible()
    audit(page, "404 page")
    with page.expect_navigation():  # a POST to a page that takes none: 405
        page.evaluate("""() => {
          const form = Object.assign(document.createElement("form"), {method: "post", action: "/"});
          document.body.append(form);
          form.submit();
        }""")
    expect(page.get_by_test_id("oops")).to_be_visible()
    audit(page, "405 page")


@pytest.mark.parametrize(("locale", "scheme", "width"), VARIANTS,
                         ids=["-".join(variant) for variant in VARIANTS])
def test_every_page_state_has_no_axe_violations(new_context, locale, scheme, width):
    audit = Audit()
    options = {"locale": locale, "color_scheme": scheme, "viewport": VIEWPORTS[width]}
    sender = new_context(**options).new_page()
    link, receipt = visit_sender(sender, audit)
    spare = create_secret(sender, "to burn")
    no_js = new_context(**options).new_page()
    no_js.route("**/*", as_without_javascript)
    for path, state in [("/", "no JavaScript: compose"), (link, "no JavaScript: notification")]:
        no_js.goto(path)
        expect(no_js.get_by_test_id("noscript")).to_be_visible()
        expect(no_js.get_by_test_id("compose").or_(no_js.get_by_test_id("notification"))) \
            .not_to_be_visible()
        audit(no_js, state)

    visit_reader(new_context(**options).new_page(), link, spare.link, audit)
    visit_reply(sender, receipt, audit)
    visit_receipt(sender, spare.receipt_link, audit)
    visit_error_pages(sender, audit)
    visit_request(new_context(**options).new_page(), new_context(**options).new_page(),
                  new_context(**options).new_page(), audit)

    assert len(audit.states) == 33
    assert audit.found == {}
