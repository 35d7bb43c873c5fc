"""The mayfly command, against a live uWSGI server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from mayfly import cli

from .live import LiveServer

pytestmark = pytest.mark.slow
MAYFLY = str(Path(sys.executable).with_name("mayfly"))
SERVER_DEFAULT = 7200


def mayfly(*args, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as a user would, without a terminal."""
    environ = {k: v for k, v in os.environ.items() if k != "MAYFLY_PASSPHRASE"}
    return subprocess.run([MAYFLY, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**environ, **(env or {})})


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """mayfly under uWSGI with a default lifetime (2 hours) that the CLI has no word for."""
    env = {"MAYFLY_DEFAULT_LIFETIME": str(SERVER_DEFAULT)}
    with LiveServer(tmp_path_factory.mktemp("cli"), env=env) as server:
        yield server


@pytest.fixture
def send(live_server):
    """Send a message to the live server; return the link (and receipt link)."""
    def send(text: str, *args, env=None) -> list[str]:
        result = mayfly("send", "--server", live_server.url, "--receipt", *args, stdin=text,
                        env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()
    return send


def assert_one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode != 0
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_send_then_read_round_trips_and_the_second_read_is_refused(send):
    link, _ = send("the wifi password is hunter2\n")
    first = mayfly("read", link)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "the wifi password is hunter2\n"
    assert_one_line_error(mayfly("read", link), "already been read, has expired")


def test_passphrase_wrong_then_right(send):
    link, _ = send("behind a passphrase", "--passphrase", env={"MAYFLY_PASSPHRASE": "right"})
    wrong = mayfly("read", link, env={"MAYFLY_PASSPHRASE": "wrong"})
    assert_one_line_error(wrong, "wrong passphrase, 4 attempt(s) left")
    right = mayfly("read", link, env={"MAYFLY_PASSPHRASE": "right"})
    assert right.returncode == 0 and right.stdout == "behind a passphrase\n"


def test_reading_a_passphrase_message_without_a_terminal_asks_for_the_variable(send):
    link, _ = send("x", env={"MAYFLY_PASSPHRASE": "pw"})
    assert_one_line_error(mayfly("read", link), "set MAYFLY_PASSPHRASE")
    assert mayfly("read", link, env={"MAYFLY_PASSPHRASE": "pw"}).returncode == 0


def test_status_says_waiting_then_read(send):
    link, receipt = send("hello")
    assert mayfly("status", receipt).stdout.startswith("waiting: not read yet")
    mayfly("read", link)
    assert mayfly("status", receipt).stdout.startswith("read at ")


def test_burn_destroys_the_message(send):
    link, receipt = send("never mind")
    burned = mayfly("burn", receipt)
    assert burned.returncode == 0 and burned.stdout.startswith("burned by you at")
    assert_one_line_error(mayfly("read", link), "already been read")


def test_views_lets_several_readers_read(send):
    link, _ = send("for two", "--views", "2")
    assert [mayfly("read", link).returncode for _ in range(3)] == [0, 0, 1]


def test_attachments_are_saved_and_never_overwrite(send, tmp_path):
    data = os.urandom(300_000)
    original = tmp_path / "report.bin"
    original.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.bin").write_bytes(b"keep me")
    link, _ = send("see attached", str(original))
    result = mayfly("read", link, "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "report.bin").read_bytes() == b"keep me"
    assert (out / "report (1).bin").read_bytes() == data


@pytest.mark.parametrize(("args", "words"), [
    (("read", "https://example.org/s/abc"), "the link is incomplete"),
    (("read", "not a link"), "not a mayfly message link"),
    (("read", "http://127.0.0.1:9/s/" + "A" * 24 + "#" + "A" * 43), "cannot reach"),
    (("read", "http://127.0.0.1:9/s/" + "A" * 24 + "#short"), "the link is damaged"),
    (("status", "http://127.0.0.1:9/s/x#y"), "not a mayfly receipt link"),
    (("send", "--expires", "soon"), "not a duration"),
    (("send", "--views", "0"), "0 is not in the range"),
])
def test_bad_input_is_one_clear_line_and_a_failure(args, words):
    assert_one_line_error(mayfly(*args, stdin="text"), words)


def lifetime_left(live_server, link: str) -> float:
    """Seconds until the message of ``link`` expires, as the server says."""
    secret_id = link.split("/s/", 1)[1].split("#", 1)[0]
    meta = requests.get(f"{live_server.url}/api/v1/secrets/{secret_id}", timeout=10).json()
    expires = datetime.fromisoformat(meta["expires_at"].replace("Z", "+00:00"))
    return expires.timestamp() - time.time()


@pytest.mark.parametrize(("args", "lifetime"), [((), SERVER_DEFAULT), (("--expires", "1h"), 3600)])
def test_the_lifetime_is_the_servers_default_unless_given(live_server, send, args, lifetime):
    link, _ = send("how long do I live?", *args)
    assert lifetime - 60 < lifetime_left(live_server, link) <= lifetime


def test_an_empty_message_is_refused(live_server):
    result = mayfly("send", "--server", live_server.url, stdin="  \n")
    assert_one_line_error(result, "the message is empty")


def test_expiry_beyond_the_server_limit_is_refused_clearly(live_server):
    result = mayfly("send", "--server", live_server.url, "--expires", "30d", stdin="x")
    assert_one_line_error(result, "expires_in must lie between")


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("1h", 3600), ("1d", 86400),
                                               ("7d", 604800), ("90", 90), ("45s", 45)])
def test_durations(text, seconds):
    assert cli.parse_duration(text) == seconds


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"), ("..", "attachment"), ("", "attachment"),
    ("C:\\evil\\x.exe", "x.exe"), (".bashrc", "bashrc"), ("ok.txt", "ok.txt"),
])
def test_attachment_names_cannot_escape_the_output_directory(name, safe):
    assert cli.safe_name(name) == safe


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    runner = CliRunner()
    for name, command in cli.main.commands.items():
        assert isinstance(command, click.Command)
        result = runner.invoke(cli.main, [name, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output, name
        assert f"mayfly {name}" in readme, f"README does not show mayfly {name}"


def test_a_huge_body_is_refused_with_413_before_it_is_read(live_server):
    import http.client

    # 64 MiB announced, 64 KiB sent: an answer proves the rest was never awaited.
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=20)
    connection.putrequest("POST", "/api/v1/secrets")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(64 * 1024 * 1024))
    connection.endheaders(b"x" * (64 * 1024))
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    connection.close()


def test_a_reply_reaches_the_sender_once(send, tmp_path):
    link, receipt_link = send("the door code is 4711\n")
    assert mayfly("read", link).returncode == 0
    attachment = tmp_path / "answer.txt"
    attachment.write_bytes(b"attached to the reply")
    replied = mayfly("reply", link, str(attachment), stdin="got it, thanks\n")
    assert replied.returncode == 0, replied.stderr
    assert "only the sender can read it" in replied.stderr
    status = mayfly("status", receipt_link)
    assert "1 reply (1 unread" in status.stdout, status.stdout
    out = tmp_path / "replies"
    first = mayfly("replies", receipt_link, "--output", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout == "got it, thanks\n"
    assert (out / "answer.txt").read_bytes() == b"attached to the reply"
    assert_one_line_error(mayfly("replies", receipt_link), "no unread reply")
    assert "1 reply (0 unread" in mayfly("status", receipt_link).stdout


def test_one_reply_per_view(send):
    link, _ = send("one view, one reply")
    assert mayfly("read", link).returncode == 0
    assert mayfly("reply", link, stdin="first").returncode == 0
    assert_one_line_error(mayfly("reply", link, stdin="second"), "no reply is left")


def test_no_replies_refuses_them_and_send_without_receipt_still_shows_where_they_go(
        live_server):
    refused = mayfly("send", "--server", live_server.url, "--no-replies", stdin="quiet")
    assert refused.returncode == 0 and refused.stderr == ""
    (link,) = refused.stdout.split()
    assert mayfly("read", link).returncode == 0
    assert_one_line_error(mayfly("reply", link, stdin="hello?"), "allows no reply")
    default = mayfly("send", "--server", live_server.url, stdin="talk back")
    assert len(default.stdout.split()) == 1
    assert f"{live_server.url}/r/" in default.stderr


def test_a_receipt_link_without_its_reply_key_cannot_read_replies(send):
    link, receipt_link = send("hello")
    mayfly("read", link)
    mayfly("reply", link, stdin="answer")
    cut = receipt_link.rsplit(".", 1)[0]
    assert_one_line_error(mayfly("replies", cut), "carries no reply key")
    assert mayfly("status", cut).returncode == 0


def test_status_wait_returns_when_another_process_reads_the_message(send):
    link, receipt = send("watched")
    waiting = subprocess.Popen([MAYFLY, "status", "--wait", "--timeout", "2m", receipt],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The first line says the wait has begun with the message unread.
        assert waiting.stderr.readline().startswith("now waiting: not read yet")
        assert mayfly("read", link).returncode == 0
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert out.startswith("read at ") and out.count("\n") == 1


def test_status_wait_gives_up_at_its_timeout_with_exit_code_3(send):
    _, receipt = send("nobody reads this")
    result = mayfly("status", "--wait", "--timeout", "3s", receipt)
    assert result.returncode == 3
    assert result.stdout.startswith("waiting: not read yet")
    assert "nothing changed within 3s" in result.stderr


def test_status_wait_on_a_final_state_exits_4_at_once(send):
    link, receipt = send("already gone", "--no-replies")
    mayfly("read", link)
    result = mayfly("status", "--wait", receipt)
    assert result.returncode == 4
    assert result.stdout.startswith("read at ")
    assert "nothing more can change" in result.stderr


@pytest.mark.parametrize("args, words", [
    (["--timeout", "5s"], "--timeout goes with --wait"),
    (["--wait", "--timeout", "soon"], "is not a duration"),
])
def test_status_wait_options_are_checked_in_one_line(send, args, words):
    _, receipt = send("options")
    assert_one_line_error(mayfly("status", *args, receipt), words)


def test_status_wait_on_a_wrong_token_is_one_line(send):
    _, receipt = send("tokens")
    at = receipt.index("#") + 1
    wrong = receipt[:at] + ("B" if receipt[at] == "A" else "A") + receipt[at + 1:]
    assert_one_line_error(mayfly("status", "--wait", wrong), "already been read")
