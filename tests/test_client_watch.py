"""Client.watch (status --wait) against hostile servers: conditional polls, bounded waits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mayfly.client import RETRIES, Client, ClientError, Link

from .hostile import Hostile, drip_headers, json_answer, raw

ID = "A" * 24
RECEIPT = f"/api/v1/secrets/{ID}/receipt"
WAITING = {"id": ID, "state": "waiting", "created_at": "2030-01-01T00:00:00Z",
           "expires_at": "2030-01-02T00:00:00Z", "max_views": 1, "views_left": 1,
           "failed_attempts": 0, "first_read_at": None, "last_read_at": None,
           "ended_at": None, "reply_key": None, "replies_left": 0, "replies": []}
READ = {**WAITING, "state": "read", "views_left": 0, "first_read_at": "2030-01-01T01:00:00Z",
        "last_read_at": "2030-01-01T01:00:00Z", "ended_at": "2030-01-01T01:00:00Z"}
TAG = '"tag-1"'


@pytest.fixture
def hostile():
    """A scriptable server on a loopback port for this test."""
    with Hostile() as server:
        yield server


def tagged(document: dict, tag: str = TAG):
    """A receipt with this ETag (none if empty)."""
    headers = {"Content-Type": "application/json", **({"ETag": tag} if tag else {})}
    return raw("200 OK", json.dumps(document).encode(), headers)


def in_turn(*answers):
    """Each request gets the next answer; the last one repeats."""
    queue = list(answers)

    def answer(handler):
        (queue.pop(0) if len(queue) > 1 else queue[0])(handler)
    return answer


def watch(server: Hostile, timeout: float | None = 10.0, **options):
    link = Link.parse(f"{server.url}/r/{ID}#token", kind="r")
    return Client(link.base, timeout=5).watch(link, timeout=timeout, interval=0.02, **options)


def test_unchanged_polls_send_the_tag_back_and_a_change_ends_the_wait(hostile):
    not_modified = raw("304 Not Modified", headers={"ETag": TAG})
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), not_modified, not_modified,
                                       tagged(READ, '"tag-2"')))
    receipt, why = watch(hostile)
    assert (why, receipt["state"]) == ("changed", "read")
    assert len(hostile.requests) == 4
    assert "If-None-Match" not in hostile.headers[0]
    assert [h["If-None-Match"] for h in hostile.headers[1:]] == [TAG] * 3
    assert all(h["Authorization"] == "Bearer token" for h in hostile.headers)


def test_a_final_receipt_ends_the_wait_at_once(hostile):
    hostile.on("GET", RECEIPT, tagged(READ))
    assert watch(hostile) == (READ, "final")
    assert len(hostile.requests) == 1


def test_a_read_receipt_that_may_still_get_a_reply_is_watched(hostile):
    open_for_reply = {**READ, "reply_key": {"public_key": "x", "wrapped_private_key": "y"},
                      "replies_left": 1}
    replied = {**open_for_reply, "replies_left": 0,
               "replies": [{"number": 1, "created_at": "2030-01-01T02:00:00Z", "read_at": None}]}
    hostile.on("GET", RECEIPT, in_turn(tagged(open_for_reply), tagged(replied, '"t2"')))
    assert watch(hostile) == (replied, "changed")


def test_the_same_receipt_under_a_new_tag_is_no_change(hostile):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING, '"a"'), tagged(WAITING, '"b"'),
                                       tagged(READ, '"c"')))
    assert watch(hostile)[1] == "changed"
    assert len(hostile.requests) == 3


def test_nothing_changing_ends_at_the_timeout_with_the_receipt_as_it_was(hostile):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), raw("304 Not Modified")))
    started = time.monotonic()
    assert watch(hostile, timeout=0.5) == (WAITING, "timeout")
    assert 0.5 <= time.monotonic() - started < 3


@pytest.mark.parametrize("tag", ['tag-without-quotes', '"' + "x" * 500 + '"', '"a b"', ""])
def test_a_tag_we_could_not_send_back_verbatim_is_never_sent(hostile, tag):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING, tag), tagged(WAITING, tag),
                                       tagged(READ, tag)))
    assert watch(hostile)[1] == "changed"
    assert all("If-None-Match" not in h for h in hostile.headers)


def test_a_304_to_a_question_not_asked_is_malformed(hostile):
    hostile.on("GET", RECEIPT, raw("304 Not Modified", headers={"ETag": TAG}))
    with pytest.raises(ClientError, match="malformed"):
        watch(hostile)


def test_busy_answers_are_waited_out_then_the_change_arrives(hostile):
    busy = raw("429 Too Many Requests", b"{}", {"Retry-After": "1",
                                                "Content-Type": "application/problem+json"})
    unavailable = raw("503 Service Unavailable", b"{}", {"Retry-After": "99999999999"})
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), busy, unavailable, tagged(READ, '"2"')))
    started = time.monotonic()
    # The absurd Retry-After counts as unsaid; the 429's second is honoured.
    assert watch(hostile)[1] == "changed"
    assert 1 <= time.monotonic() - started < 5


def test_a_server_that_stays_busy_ends_the_wait_with_one_error(hostile):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), raw("503 Service Unavailable", b"{}")))
    with pytest.raises(ClientError, match="unavailable"):
        watch(hostile)
    assert len(hostile.requests) == 1 + RETRIES + 1


def test_a_server_dripping_its_answer_cannot_stretch_the_timeout(hostile):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), drip_headers()))
    started = time.monotonic()
    with pytest.raises(ClientError, match="did not answer"):
        watch(hostile, timeout=1.5)
    assert time.monotonic() - started < 4


def test_the_cli_waits_then_prints_the_new_state_and_exits_0(hostile):
    hostile.on("GET", RECEIPT, in_turn(tagged(WAITING), raw("304 Not Modified"),
                                       tagged(READ, '"2"')))
    result = cli("status", "--wait", f"{hostile.url}/r/{ID}#token")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("read at 2030-01-01T01:00:00Z")
    assert result.stderr.startswith("now waiting: not read yet")


@pytest.mark.parametrize("answer", [
    json_answer({"state": "haunted"}),
    raw("200 OK", b"\xff\xfe", {"Content-Type": "application/json"}),
    raw("302 Found", headers={"Location": "http://elsewhere.example/\x1b[2J"}),
])
def test_the_cli_reports_a_hostile_receipt_in_one_line(hostile, answer):
    hostile.on("GET", RECEIPT, answer)
    result = cli("status", "--wait", "--timeout", "5s", f"{hostile.url}/r/{ID}#token")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


def cli(*args: str) -> subprocess.CompletedProcess:
    mayfly = str(Path(sys.executable).with_name("mayfly"))
    return subprocess.run([mayfly, *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
