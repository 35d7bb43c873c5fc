"""Real Chromium against real uWSGI: one server and one browser for the whole session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ..live import LiveServer

# Debian's chromium, quiet: no background traffic to Google, no GPU on CI.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-gpu", "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]
# Chromium logs a failed fetch (the expected 403 of a wrong passphrase, the 404
# of a burned message) as a console error: those are answers, not faults.
EXPECTED_CONSOLE = "Failed to load resource: the server responded with a status of 4"



def launch(playwright) -> Browser:
    """Debian's Chromium (Playwright's own download does not work here)."""
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: apt-get install chromium"
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def web_server(tmp_path_factory) -> Iterator[LiveServer]:
    """mayfly under uWSGI (2 workers, SQLite, no rate limits) for all browser stories."""
    with LiveServer(tmp_path_factory.mktemp("web"), processes=2) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the session; each test gets fresh contexts."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


class Watch:
    """What a context did that it should not: foreign requests, console errors, page errors."""

    def __init__(self, origin: str):
        self.origin = origin
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, text: str) -> None:
        """A console error this test causes on purpose (a cut network, a 503)."""
        self.allowed.append(text)

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._request)
        context.on("page", self._page)

    def _page(self, page: Page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self._console(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, text: str) -> None:
        if not text.startswith(EXPECTED_CONSOLE) and not any(a in text for a in self.allowed):
            self.errors.append(text)

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"blob", "data"}:
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests to other origins: {self.foreign}"
        assert self.errors == [], f"console errors (CSP, Trusted Types, scripts): {self.errors}"


@pytest.fixture
def new_context(web_server, browser) -> Iterator:
    """Make separate browser contexts (separate people); each is watched and closed after."""
    contexts: list[BrowserContext] = []
    watches: list[Watch] = []

    def make(locale: str = "en-US", color_scheme: str = "light", **options) -> BrowserContext:
        options = {"base_url": web_server.url, **options}  # another server, if a test has one
        context = browser.new_context(locale=locale, color_scheme=color_scheme,
                                      accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        watch = Watch(options["base_url"])
        watch.attach(context)
        context.watch = watch
        contexts.append(context)
        watches.append(watch)
        return context

    yield make
    for context in contexts:
        context.close()
    for watch in watches:
        watch.assert_clean()


@pytest.fixture
def sender(new_context) -> Page:
    """The person who writes the message, in English."""
    return new_context().new_page()


@pytest.fixture
def reader(new_context) -> Page:
    """Another person, in a separate browser context, who opens the link."""
    return new_context().new_page()


expect.set_options(timeout=15_000)
