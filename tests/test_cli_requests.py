"""mayfly ask, answer and read ANSWER_LINK against a live server (uWSGI, SQLite)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from .live import LiveServer
from .test_cli import MAYFLY, assert_one_line_error, mayfly

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """mayfly under uWSGI, several workers, so that answerers race for real."""
    with LiveServer(tmp_path_factory.mktemp("cli-requests"), processes=4) as server:
        yield server


@pytest.fixture
def ask(live_server):
    """Ask for a secret; return the request link and the answer link."""
    def ask(note: str, *args, env=None) -> tuple[str, str]:
        result = mayfly("ask", note, "--server", live_server.url, *args, env=env)
        assert result.returncode == 0, result.stderr
        request_link, answer_link = result.stdout.split()
        assert "/q/" in request_link and "/a/" in answer_link
        return request_link, answer_link
    return ask


def test_ask_answer_read_round_trip_with_a_file(ask, tmp_path):
    request_link, answer_link = ask("the staging database password, please")
    assert "waiting for an answer" in mayfly("status", answer_link).stdout
    assert_one_line_error(mayfly("read", answer_link), "no answer yet")
    attachment = tmp_path / "staging.env"
    attachment.write_bytes(b"DB_PASSWORD=hunter2\n")
    answered = mayfly("answer", request_link, str(attachment), stdin="here it is\n")
    assert answered.returncode == 0, answered.stderr
    assert "the staging database password, please" in answered.stderr
    assert "answered at" in mayfly("status", answer_link).stdout
    out = tmp_path / "answer"
    read = mayfly("read", answer_link, "--output", str(out))
    assert read.returncode == 0, read.stderr
    assert read.stdout == "here it is\n"
    assert (out / "staging.env").read_bytes() == b"DB_PASSWORD=hunter2\n"
    assert_one_line_error(mayfly("read", answer_link), "already been read")
    assert "now destroyed" in mayfly("status", answer_link).stdout


def test_a_second_answer_is_refused_and_not_sent(ask):
    request_link, answer_link = ask("who has the key?")
    assert mayfly("answer", request_link, stdin="me, first").returncode == 0
    assert_one_line_error(mayfly("answer", request_link, stdin="me, second"),
                          "already been answered: your answer was not sent")
    assert mayfly("read", answer_link).stdout == "me, first\n"


def test_many_answerers_at_once_exactly_one_wins(ask):
    request_link, answer_link = ask("the code, anyone")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: mayfly("answer", request_link, stdin=f"answer {n}"),
                                range(6)))
    winners = [n for n, result in enumerate(results) if result.returncode == 0]
    assert len(winners) == 1, [r.stderr for r in results]
    for result in results:
        if result.returncode:
            assert_one_line_error(result, "already been answered")
    assert mayfly("read", answer_link).stdout == f"answer {winners[0]}\n"


def test_a_passphrase_request_needs_the_passphrase_to_answer(ask):
    request_link, answer_link = ask("passphrase protected", "--passphrase",
                                    env={"MAYFLY_PASSPHRASE": "open sesame"})
    assert_one_line_error(mayfly("answer", request_link, stdin="x"), "set MAYFLY_PASSPHRASE")
    wrong = mayfly("answer", request_link, stdin="x", env={"MAYFLY_PASSPHRASE": "nope"})
    assert_one_line_error(wrong, "wrong passphrase, 4 attempt(s) left")
    right = mayfly("answer", request_link, stdin="42", env={"MAYFLY_PASSPHRASE": "open sesame"})
    assert right.returncode == 0, right.stderr
    assert mayfly("read", answer_link).stdout == "42\n"


def test_a_burned_request_cannot_be_answered(ask):
    request_link, answer_link = ask("never mind")
    assert "burned by you" in mayfly("burn", answer_link).stdout
    assert_one_line_error(mayfly("answer", request_link, stdin="too late"), "never existed")


def test_bad_request_links_are_one_clear_line():
    assert_one_line_error(mayfly("answer", "https://example.org/s/abc#key", stdin="x"),
                          "not a mayfly request link")
    assert_one_line_error(mayfly("ask", "   "), "the note is empty")


def test_status_wait_on_an_answer_link_returns_when_the_answer_comes(ask):
    request_link, answer_link = ask("ping me when it is there")
    waiting = subprocess.Popen([MAYFLY, "status", "--wait", "--timeout", "2m", answer_link],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "waiting for an answer" in waiting.stderr.readline()
        assert mayfly("answer", request_link, stdin="there").returncode == 0
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert "answered at" in out
    # Answered is not the end: the answer may still be read, or expire unread.
    assert mayfly("status", "--wait", "--timeout", "3s", answer_link).returncode == 3
    mayfly("read", answer_link)
    assert mayfly("status", "--wait", answer_link).returncode == 4
