"""Errors: problem+json for the API, pages for people, the same headers on both."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import TooManyRequests

HTML = {"Accept": "text/html"}


@pytest.fixture
def app(app):
    """The application with one page that asks the reader to slow down."""

    def slow_down():
        raise TooManyRequests(retry_after=42)

    app.add_url_rule("/slow-down", "slow_down", slow_down)
    return app


@pytest.mark.parametrize("headers", [HTML, {"Accept": "application/json"}])
def test_a_wrong_method_says_which_methods_are_allowed(client, headers):
    response = client.post("/", headers=headers)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}


@pytest.mark.parametrize("headers, mimetype", [(HTML, "text/html"),
                                               ({}, "application/problem+json")])
def test_too_many_requests_says_when_to_come_back(client, headers, mimetype):
    response = client.get("/slow-down", headers=headers)
    assert response.status_code == 429
    assert response.mimetype == mimetype
    assert response.headers["Retry-After"] == "42"
