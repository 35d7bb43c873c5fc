"""Redirects stay on this site, judged on the Location actually sent."""

from __future__ import annotations

import pytest

from mayfly.redirects import local_path, local_redirect

EVIL = [
    "//evil.example/", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "HTTPS://evil.example", "javascript:alert(1)", "data:text/html,x",
    "/\t/evil.example", "/\t\t/evil.example", "\t//evil.example", "/\r\n/evil.example",
    "/\n/evil.example", "/\r/evil.example", "/x\r\nSet-Cookie: a=b", "/%09/evil.example",
    "/%0d%0a/evil.example", "/%5c/evil.example", "%2F%2Fevil.example", "/%2F/evil.example",
    "/\x00/evil.example", "/\x0b/evil.example", "/\x7f/evil.example", "/ /evil.example",
    "/\u3000/evil.example", "/\uff0f/evil.example", "／／evil.example", "evil.example",
    "", " /", "/s/x#\n", "/\u202e/evil",
]


@pytest.mark.parametrize("target", EVIL)
def test_anything_but_a_plain_local_path_becomes_the_home_page(target):
    assert local_path(target) == "/"


@pytest.mark.parametrize("target", [
    "/", "/r/" + "A" * 24, "/s/abc_DEF-123?x=1&y=2", "/s/" + "A" * 24 + "?", "/?lang=en",
    "/a/./b", "/a:b@c!$'()*+,;=~",
])
def test_plain_local_paths_are_kept(target):
    assert local_path(target) == target


@pytest.mark.parametrize("target", EVIL + ["/r/" + "A" * 24, "/s/a?b=c"])
def test_a_local_redirect_sends_a_location_that_is_itself_local(app, target):
    with app.test_request_context():
        location = local_redirect(target).headers["Location"]
    assert location == local_path(location)
    assert location in {"/", target}


@pytest.mark.parametrize("target", EVIL)
def test_language_switch_sends_only_a_local_location(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("raw", ["/%09/evil.example", "/%0D%0A/evil.example",
                                 "/%0a/evil.example", "/%5C/evil.example", "%2F%2Fevil",
                                 "/%E3%80%80/evil.example", "/%0D%0ASet-Cookie:%20a=b"])
def test_language_switch_refuses_encoded_tricks_in_the_raw_query(client, raw):
    response = client.get("/lang/en?next=" + raw)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Set-Cookie: a" not in str(response.headers)
