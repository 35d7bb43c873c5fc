"""The lean reads (lean_reads.py) answer byte for byte as Flask does, or leave the request to it."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder

from mayfly import app_rules, lean_reads
from mayfly.lean import LeanPath
from mayfly.security import SecurityHeaders
from mayfly.web import LANG_COOKIE

from .helpers import KDF, make_secret
from .test_api_requests import make_request

HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


class Stacks:
    """The app's WSGI stack, and the same stack without LeanPath (plain Flask)."""

    def __init__(self, app):
        self.full = app.wsgi_app
        lean = self.full
        while not isinstance(lean, LeanPath):
            lean = lean.app  # through ProxyFix and SecurityHeaders
        flask_app = lean.wsgi_app
        self.plain = SecurityHeaders(flask_app)
        self.flask_calls = 0

        def counted(environ, start_response):
            self.flask_calls += 1
            return flask_app(environ, start_response)

        lean.wsgi_app = counted

    def answer(self, wsgi, path: str, **request) -> tuple[str, list, bytes]:
        """Status, headers and body of one request served by ``wsgi``."""
        started = []
        environ = EnvironBuilder(path=path, **request).get_environ()
        body = wsgi(environ, lambda status, headers, exc_info=None:
                    started.append((status, headers)))
        try:
            data = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        status, headers = started[0]
        return status, [header for header in headers if header[0] != "Date"], data

    def compare(self, path: str, **request) -> tuple[tuple[str, list, bytes], bool]:
        """The full stack's answer, checked identical to plain Flask's; and whether it was lean."""
        before = self.flask_calls
        full = self.answer(self.full, path, **request)
        lean = self.flask_calls == before
        assert full == self.answer(self.plain, path, **request)
        return full, lean


@pytest.fixture
def stacks(app) -> Stacks:
    return Stacks(app)


def page(stacks, secret_id: str, **headers) -> tuple[tuple[str, list, bytes], bool]:
    return stacks.compare(f"/s/{secret_id}", headers={"Accept": HTML, **headers})


@pytest.mark.every_backend
@pytest.mark.parametrize("kdf", [None, KDF], ids=["no passphrase", "passphrase"])
def test_page_is_flasks_page_once_the_language_is_rendered(client, stacks, kdf):
    made = make_secret(client, kdf=kdf, max_views=3)
    first, lean = page(stacks, made.id, **{"Accept-Language": "en-GB,en;q=0.9"})
    assert not lean  # nothing rendered yet in English: Flask renders and caches
    (status, headers, body), lean = page(stacks, made.id, **{"Accept-Language": "en"})
    assert lean and status == "200 OK" and (status, headers, body) == first
    assert ("Cache-Control", "no-store") in headers and made.id.encode() in body
    assert (b'data-testid="passphrase-input"' in body) == (kdf is not None)


@pytest.mark.parametrize("headers", [
    {"Accept-Language": "zh-CN,zh;q=0.9"},
    {"Accept-Language": "en", "Cookie": f"{LANG_COOKIE}=zh_CN"},
    {"Accept-Language": "zh-CN", "Cookie": f"other=1; {LANG_COOKIE}=zh_CN"},
], ids=["accept-language", "cookie", "cookie among others"])
def test_page_speaks_the_readers_language(client, stacks, headers):
    made = make_secret(client)
    page(stacks, made.id, **headers)  # renders the Chinese page
    (status, _, body), lean = page(stacks, made.id, **headers)
    assert lean and status == "200 OK" and b'lang="zh-CN"' in body
    english, lean = page(stacks, made.id, **{"Accept-Language": "en"})
    assert not lean and b'lang="en"' in english[2]  # English is not rendered yet


def test_a_cookie_naming_no_language_falls_back_to_accept_language(client, stacks):
    made = make_secret(client)
    headers = {"Accept-Language": "zh-CN", "Cookie": f"{LANG_COOKIE}=xx"}
    page(stacks, made.id, **headers)
    (_, _, body), lean = page(stacks, made.id, **headers)
    assert lean and b'lang="zh-CN"' in body


@pytest.mark.every_backend
def test_metadata_is_flasks_metadata(client, stacks):
    made = make_secret(client, kdf=KDF, max_views=3)
    (status, headers, body), lean = stacks.compare(f"/api/v1/secrets/{made.id}")
    assert lean and status == "200 OK"
    assert ("Content-Type", "application/json") in headers
    assert b'"views_left":3' in body and body.endswith(b"}\n")


@pytest.mark.every_backend
def test_reads_change_nothing(client, stacks, app):
    made = make_secret(client, max_views=2)
    for _ in range(3):
        assert page(stacks, made.id)[0][0] == "200 OK"
        assert stacks.compare(f"/api/v1/secrets/{made.id}")[0][0] == "200 OK"
    live = app_rules(app).metadata(made.id)
    assert (live.views_left, live.failed_attempts) == (2, 0)
    receipt = app_rules(app).storage.receipt(made.id, app_rules(app).clock())
    assert (receipt.state, receipt.first_read_at) == ("waiting", None)


@pytest.mark.every_backend
def test_gone_and_unknown_ids_are_flasks_answers(client, stacks):
    made = make_secret(client)
    page(stacks, made.id)  # the page is rendered: the fall-through is for the id alone
    assert client.post(f"/api/v1/secrets/{made.id}/reveal", json=made.proofs()).status_code \
        == 200
    request_id = make_request(client)["id"]
    for secret_id in (made.id, "A" * 24, request_id):
        for path in (f"/s/{secret_id}", f"/api/v1/secrets/{secret_id}"):
            (status, _, _), lean = stacks.compare(path, headers={"Accept": HTML})
            assert status.startswith("404") and not lean, path


def test_anything_but_a_plain_get_is_flasks(client, stacks):
    made = make_secret(client)
    page(stacks, made.id)
    for path in (f"/s/{made.id}", f"/api/v1/secrets/{made.id}"):
        assert stacks.compare(path)[1]  # the plain GET itself is lean
        for request in ({"method": "HEAD"}, {"query_string": "lang=zh_CN"},
                        {"data": b"x" * 5000}, {"data": b"x"},
                        {"base_url": "http://localhost/prefix"}):
            (status, _, _), lean = stacks.compare(path, **request)
            assert not lean, (path, request)
    assert stacks.compare(f"/s/{made.id}", data=b"x" * 5000)[0][0].startswith("413")
    assert stacks.compare(f"/s/{made.id}/")[0][0].startswith("404")


def test_debug_mode_metadata_is_flasks(client, stacks, app):
    made = make_secret(client)
    app.debug = True
    (_, _, body), lean = stacks.compare(f"/api/v1/secrets/{made.id}")
    assert not lean and b"\n  " in body  # jsonify indents in debug mode


def test_the_routes_are_the_two_reads():
    assert [(method, pattern.pattern) for method, pattern, _ in lean_reads.ROUTES] == [
        ("GET", r"/s/([A-Za-z0-9_-]{24})"), ("GET", r"/api/v1/secrets/([A-Za-z0-9_-]{24})")]
