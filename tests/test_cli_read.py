"""`mayfly read` after the view is spent: whatever the message holds, nothing is lost.

The messages come from a scripted server on loopback (tests/hostile.py), sealed
with the link's key, so that any plaintext at all can be served.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mayfly import crypto

from .hostile import Hostile, json_answer

pytestmark = pytest.mark.slow  # a process per case
MAYFLY = str(Path(sys.executable).with_name("mayfly"))
ID = "B" * 24
LINK_KEY = bytes(range(1, 33))
META = {"id": ID, "expires_at": "2030-01-01T00:00:00Z", "views_left": 1, "passphrase": False,
        "kdf": None, "attempts_left": 5}
ESCAPES = "\x1b]52;c;aGk=\x07\x1b[2J\x1b]0;title\x07\x1b[1K\x9b31m\r"


def container(header: str, after: bytes = b"") -> bytes:
    """A plaintext with exactly this header text (which need not be valid)."""
    head = header.encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(head)) + head + after


def files_header(text: str, *names_and_sizes: tuple[str, int]) -> str:
    """A header as JSON text; lone surrogates in names are written as escapes."""
    import json

    files = [{"name": name, "type": "application/octet-stream", "size": size}
             for name, size in names_and_sizes]
    return json.dumps({"v": 1, "text": text, "files": files})


@pytest.fixture
def serve():
    """Serve one plaintext as a message; return (link, the server)."""
    with Hostile() as server:
        def serve(plaintext: bytes) -> str:
            keys = crypto.derive_keys(LINK_KEY)
            blob = crypto.seal(keys.content_key, plaintext)
            server.on("GET", f"/api/v1/secrets/{ID}", json_answer(META))
            server.on("POST", f"/api/v1/secrets/{ID}/reveal",
                      json_answer({"ciphertext": crypto.b64encode(blob), "views_left": 0}))
            return f"{server.url}/s/{ID}#{crypto.b64encode(LINK_KEY)}"
        serve.server = server
        yield serve


def mayfly_read(link: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`mayfly read` without a terminal, output as bytes."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAYFLY_")}
    return subprocess.run([MAYFLY, "read", link, *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=environ, cwd=cwd)


def mayfly_read_on_a_terminal(link: str, *args: str, cwd: Path) -> tuple[int, bytes, bytes]:
    """`mayfly read` with its standard output on a pseudo-terminal: (status, tty, stderr)."""
    import pty

    controller, terminal = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAYFLY_")}
    with subprocess.Popen([MAYFLY, "read", link, *args], stdout=terminal,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=environ,
                          cwd=cwd) as process:
        os.close(terminal)
        shown = bytearray()
        while True:
            try:
                piece = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not piece:
                break
            shown += piece
        stderr = process.stderr.read()
    os.close(controller)
    return process.returncode, bytes(shown), stderr


def assert_one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert words in stderr and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_text_with_a_lone_surrogate_is_printed_with_a_replacement_character(serve):
    result = mayfly_read(serve(container('{"v":1,"text":"a\\ud800b\\n","files":[]}')))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a\ufffdb\n".encode()


@pytest.mark.parametrize("header", ['[1,"",[]]', "null", '{"v":1,"text":"","files":{}}',
                                    '{"v":1,"text":"","files":[{"name":"a","size":-1}]}'])
def test_a_malformed_header_is_one_line_not_a_traceback(serve, header):
    assert_one_line_error(mayfly_read(serve(container(header))), "incomplete or damaged")


def test_a_name_over_255_bytes_is_shortened_keeping_its_extension(serve, tmp_path):
    name = "长" * 200 + ".txt"  # 604 bytes of UTF-8
    result = mayfly_read(serve(container(files_header("", (name, 3)), b"abc")),
                         "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    [saved] = tmp_path.iterdir()
    assert saved.read_bytes() == b"abc"
    assert saved.name.endswith(".txt") and saved.name.startswith("长")
    assert len(os.fsencode(saved.name)) <= 255


def test_a_name_with_a_lone_surrogate_is_saved_with_a_replacement_character(serve, tmp_path):
    result = mayfly_read(serve(container(files_header("", ("a\ud800.txt", 1)), b"z")),
                         "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a\ufffd.txt").read_bytes() == b"z"


@pytest.mark.parametrize(("name", "saved"), [
    ("../../escape.txt", "escape.txt"),
    ("..\\..\\win.txt", "win.txt"),
    ("/etc/passwd", "passwd"),
    ("\x1b]0;title\x07report\x1b[2J.txt", "]0;titlereport[2J.txt"),
    ("tab\there\nnew\u0085line\u202etxt.exe", "tabherenewlinetxt.exe"),
    ("", "attachment"), (".", "attachment"), ("..", "attachment"), ("\x00\x01", "attachment"),
    (".bashrc", "bashrc"), ("  spaced  ", "spaced"),
])
def test_names_lose_folders_and_control_characters(serve, tmp_path, name, saved):
    result = mayfly_read(serve(container(files_header("", (name, 2)), b"ok")),
                         "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [saved]
    assert (tmp_path / saved).read_bytes() == b"ok"
    assert b"\x1b" not in result.stderr


def test_a_dangling_symlink_under_the_name_is_never_written_through(serve, tmp_path):
    out, target = tmp_path / "out", tmp_path / "target.txt"
    out.mkdir()
    (out / "note.txt").symlink_to(target)  # dangling: target.txt does not exist
    (out / "note (1).txt").symlink_to(out / "note (1).txt")  # a loop
    result = mayfly_read(serve(container(files_header("", ("note.txt", 4)), b"data")),
                         "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert not target.exists()
    assert (out / "note.txt").is_symlink() and (out / "note (1).txt").is_symlink()
    assert (out / "note (2).txt").read_bytes() == b"data"


def test_the_same_name_twice_and_existing_files_are_never_overwritten(serve, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"keep")
    result = mayfly_read(serve(container(files_header("", ("a.txt", 1), ("a.txt", 1)), b"12")),
                         "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.txt").read_bytes() == b"keep"
    assert (tmp_path / "a (1).txt").read_bytes() == b"1"
    assert (tmp_path / "a (2).txt").read_bytes() == b"2"


def test_saved_attachments_are_private_to_the_reader(serve, tmp_path):
    result = mayfly_read(serve(container(files_header("", ("k.pem", 1)), b"k")),
                         "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0


def test_an_output_that_cannot_be_written_is_refused_before_the_view_is_spent(serve, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    link = serve(container(files_header("", ("a", 1)), b"a"))
    assert_one_line_error(mayfly_read(link, "--output", str(blocker / "sub")), "cannot save")
    assert [method for method, _, _ in serve.server.requests] == []


def test_on_a_terminal_control_characters_of_text_and_names_are_shown_escaped(serve, tmp_path):
    link = serve(container(files_header(f"hi {ESCAPES} there\n", (f"x{ESCAPES}.txt", 1)), b"1"))
    status, shown, stderr = mayfly_read_on_a_terminal(link, cwd=tmp_path)
    assert status == 0, stderr
    assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown
    assert b"\\x1b]52;c;aGk=\\x07" in shown and b"\\x9b31m" in shown and b"\\r" in shown
    assert b"hi " in shown and b" there" in shown
    assert b"\x1b" not in stderr and b"\x07" not in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["x]52;c;aGk=[2J]0;title[1K31m.txt"]


def test_raw_writes_the_text_unchanged_even_on_a_terminal(serve, tmp_path):
    link = serve(container(files_header(f"hi {ESCAPES}\n")))
    status, shown, stderr = mayfly_read_on_a_terminal(link, "--raw", cwd=tmp_path)
    assert status == 0, stderr
    assert b"\x1b]52;c;aGk=\x07" in shown


def test_without_a_terminal_the_text_is_written_unchanged(serve):
    result = mayfly_read(serve(container(files_header(f"hi {ESCAPES}\n"))))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hi {ESCAPES}\n".encode()


def test_a_closed_pipe_on_stdout_still_saves_the_attachments(serve, tmp_path):
    link = serve(container(files_header("the text\n", ("kept.bin", 4)), b"kept"))
    reader, writer = os.pipe()
    os.close(reader)  # like `mayfly read LINK | head -c0`: nobody reads the text
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAYFLY_")}
    try:
        result = subprocess.run([MAYFLY, "read", link, "--output", str(tmp_path)],
                                stdout=writer, stderr=subprocess.PIPE, timeout=60,
                                stdin=subprocess.DEVNULL, env=environ)
    finally:
        os.close(writer)
    stderr = result.stderr.decode()
    assert (tmp_path / "kept.bin").read_bytes() == b"kept"
    assert result.returncode == 1 and "Traceback" not in stderr and "Exception" not in stderr
    assert "the text could not be written" in stderr, stderr
