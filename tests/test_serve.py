"""``mayfly serve``: the packaged uWSGI configuration, a few lines for a person, one-line errors."""

from __future__ import annotations

import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from harness.processes import wait_for
from harness.redis_servers import RedisServer

from mayfly.config import Settings
from mayfly.serve import (
    Listener,
    ServeError,
    is_loopback,
    prepare_data_dir,
    redacted,
    uwsgi_command,
    uwsgi_ini,
    warnings,
)

from .helpers import create_body
from .live import ProcessGroup, free_port, wait_until_up

MAYFLY = str(Path(sys.executable).with_name("mayfly"))


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("rediss://mayfly:s3cret@cache:6380/1", "rediss://mayfly:***@cache:6380/1"),
    ("redis+cluster://:pw@a:7000,b:7001", "redis+cluster://:***@a:7000,b:7001"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
])
def test_a_storage_url_is_shown_without_its_password(url, shown):
    assert redacted(url) == shown


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.org", False),
])
def test_only_loopback_addresses_count_as_local(host, loopback):
    assert is_loopback(host) is loopback


def test_the_command_line_adds_only_the_listener_and_workers_to_the_packaged_ini():
    ini = uwsgi_ini()
    assert Path(ini).is_file()
    http = uwsgi_command(Listener("127.0.0.1", 8123), 3, log_fd=7)[1:]
    python = ["--binary-path", sys.executable]
    assert http == ["--ini", ini, "--ini", f"{ini}:http", "--http", "127.0.0.1:8123",
                    "--ini", f"{ini}:quiet", "--logger", "fd:7", "--processes", "3", *python]
    unix = uwsgi_command(Listener(socket="/run/m.sock"), 2)[1:]
    assert unix == ["--ini", ini, "--ini", f"{ini}:socket", "--socket", "/run/m.sock",
                    "--processes", "2", *python]


def test_with_notices_configured_the_command_line_adds_the_notices_mule():
    ini = uwsgi_ini()
    command = uwsgi_command(Listener("127.0.0.1", 8123), 1, notices=True)
    assert command[-6:-2] == ["--ini", f"{ini}:notices", "--processes", "1"]
    section = Path(ini).read_text().split("\n[notices]", 1)[1].split("\n[", 1)[0]
    assert "mule = %dnotices/mule.py" in section
    assert (Path(ini).parent / "notices" / "mule.py").is_file()


def serve(log: Path, *args: str, env: dict | None = None) -> ProcessGroup:
    """Start ``mayfly serve`` as a user does, its output in ``log``."""
    return ProcessGroup([MAYFLY, "serve", *args], log, env={**os.environ, **(env or {})})


def stop(server: ProcessGroup) -> str:
    """SIGTERM the server (uWSGI's die-on-term), return everything it printed."""
    server.stop(grace=30)
    return server.log_path.read_text()


def serving(tmp_path: Path, processes: int, **env: str) -> tuple[ProcessGroup, str]:
    """``mayfly serve`` on a free port, its data in ``tmp_path``, once it answers; and its URL."""
    url = f"http://127.0.0.1:{free_port()}"
    server = serve(tmp_path / "serve.log", "--port", url.rsplit(":", 1)[1],
                   "--processes", str(processes), env={"MAYFLY_DATA_DIR": str(tmp_path), **env})
    try:
        wait_until_up(f"{url}/healthz", process=server)
    except BaseException:
        stop(server)
        raise
    return server, url


def create(url: str) -> requests.Response:
    """Create a small secret through the API."""
    return requests.post(f"{url}/api/v1/secrets", timeout=10,
                         json=create_body(b"\x01" + bytes(64), b"l" * 32, b"a" * 32))


def run_serve(*args: str, env: dict) -> subprocess.CompletedProcess:
    """``mayfly serve`` expected to refuse at once."""
    return subprocess.run([MAYFLY, "serve", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_serve_prints_a_few_lines_not_the_uwsgi_screen_and_keeps_data_private(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    # One worker: stopping while a second one still loads the app would print its
    # interrupted import, which is not what this test is about.
    server = serve(tmp_path / "serve.log", "--port", str(port), "--processes", "1",
                   env={"MAYFLY_DATA_DIR": str(data)})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process=server)
        assert create(f"http://127.0.0.1:{port}").status_code == 201
    finally:
        output = stop(server)
    # mayfly's three lines, and nothing of uWSGI's, from the start to the stop.
    assert output.splitlines() == [
        f"mayfly is serving http://127.0.0.1:{port}",
        f"data: SQLite database {data / 'mayfly.db'}",
        "Stop with Ctrl+C (or SIGTERM). uWSGI's own start-up screen: mayfly serve --verbose.",
    ], output
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.slow
def test_serve_still_shows_what_goes_wrong_after_the_start(tmp_path):
    server, url = serving(tmp_path, 1)
    try:
        # uWSGI forks its worker first, then the HTTP router.
        worker = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        os.kill(int(worker[0]), signal.SIGKILL)
        wait_until_up(f"{url}/healthz", process=server)
    finally:
        output = stop(server)
    assert f"DAMN ! worker 1 (pid: {worker[0]}) died, killed by signal 9" in output, output


def children(pid: int) -> set[str]:
    """The processes uWSGI's master has forked: its workers and its HTTP router."""
    return set(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def loaded_workers(pid: int) -> int:
    """How many of uWSGI's workers have loaded the app (they start their threads then)."""
    return sum(len(os.listdir(f"/proc/{child}/task")) > 1 for child in children(pid))


def reload_workers(server: ProcessGroup, processes: int) -> None:
    """SIGHUP, as `systemctl reload mayfly` sends; return once all new workers are forked."""
    # A worker still loading the app misses the signal, and the master then waits
    # its mercy (30 s) before it kills it: wait for all of them first.
    wait_for("every worker loaded", lambda: loaded_workers(server.pid) == processes, server)
    before = children(server.pid)
    os.kill(server.pid, signal.SIGHUP)
    wait_for("new workers after SIGHUP", lambda: (
        len(now := children(server.pid)) == processes + 1 and not now & before), server)


@pytest.mark.slow
def test_a_reload_restarts_uwsgi_in_its_virtualenv_and_keeps_serving(tmp_path):
    server, url = serving(tmp_path, 2)
    try:
        reload_workers(server, 2)
        wait_until_up(f"{url}/healthz", process=server)
        assert create(url).status_code == 201
    finally:
        output = stop(server)
    assert server.popen.returncode == 0, output
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_a_stop_while_workers_still_load_the_app_ends_cleanly(tmp_path):
    # A stopped redis-server accepts connections but answers nothing, so workers
    # started by a reload wait in create_app() (for the socket timeout) when the
    # stop comes: uWSGI interrupts them, and that must not count as a failed app.
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        server, _ = serving(tmp_path, 2,
                            MAYFLY_STORAGE_URL=f"redis://127.0.0.1:{redis_server.port}/0")
        try:
            os.kill(redis_server.process.pid, signal.SIGSTOP)
            reload_workers(server, 2)
            time.sleep(1)  # the new workers import the app and wait for Redis
        finally:
            output = stop(server)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
        redis_server.stop()
    assert server.popen.returncode == 0, output
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_serve_verbose_shows_the_uwsgi_screen(tmp_path):
    port = free_port()
    server = serve(tmp_path / "serve.log", "--port", str(port), "--processes", "1", "--verbose",
                   env={"MAYFLY_DATA_DIR": str(tmp_path)})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process=server)
    finally:
        output = stop(server)
    assert "Starting uWSGI" in output and "spawned uWSGI worker 1" in output
    assert "getting INI configuration" in output


@pytest.mark.slow
def test_serve_refuses_a_taken_port_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--port", str(port), env={"MAYFLY_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr == (f"Error: port {port} on 127.0.0.1 is already in use"
                             " (is mayfly already running? choose another with --port)\n")
    assert result.stdout == ""


@pytest.mark.slow
def test_serve_refuses_a_data_directory_it_cannot_create_in_one_line(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    result = run_serve("--port", str(free_port()),
                       env={"MAYFLY_DATA_DIR": str(tmp_path / "file" / "data")})
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot create the data directory {tmp_path}/file")
    assert len(result.stderr.splitlines()) == 1


def test_serve_refuses_a_data_directory_it_cannot_write(tmp_path, monkeypatch):
    """Root writes anywhere, and tests run as root in CI: the permission check is faked."""
    data = tmp_path / "data"
    data.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: (
        not mode & os.W_OK if os.fspath(path) == str(data) else real_access(path, mode)))
    with pytest.raises(ServeError) as refused:
        prepare_data_dir(str(data / "mayfly.db"))
    assert str(refused.value) == (f"the data directory {data} is not writable by this user"
                                  " (set MAYFLY_DATA_DIR to one that is)")


@pytest.mark.slow
def test_serve_refuses_a_bad_setting_in_one_line(tmp_path):
    result = run_serve("--port", str(free_port()),
                       env={"MAYFLY_DATA_DIR": str(tmp_path), "MAYFLY_MAX_VIEWS": "many"})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: MAYFLY_MAX_VIEWS: ")
    assert len(result.stderr.splitlines()) == 1


def uwsgi_request(path: str, sock: str) -> bytes:
    """GET a path over uWSGI's own protocol on a unix socket, as nginx's uwsgi_pass does."""
    variables = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "REQUEST_URI": path,
                 "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                 "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost"}
    body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v))
                    + v.encode() for k, v in variables.items())
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(sock)
        client.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


@pytest.mark.slow
def test_serve_on_a_unix_socket_for_nginx_is_group_only(tmp_path):
    sock = tmp_path / "run" / "mayfly.sock"
    sock.parent.mkdir()
    server = serve(tmp_path / "serve.log", "--socket", str(sock), "--processes", "2",
                   env={"MAYFLY_DATA_DIR": str(tmp_path / "data")})
    try:
        for _ in range(300):
            if sock.exists() and b" 200 " in uwsgi_request("/healthz", str(sock)):
                break
            assert server.alive(), server.tail()
            time.sleep(0.1)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        assert uwsgi_request("/healthz", str(sock)).startswith(b"HTTP/1.1 200 OK")
        again = run_serve("--socket", str(sock), env={"MAYFLY_DATA_DIR": str(tmp_path / "d2")})
        assert again.returncode == 1
        assert again.stderr == f"Error: the socket {sock} is already in use" \
                               " (is mayfly already running?)\n"
    finally:
        output = stop(server)
    assert f"mayfly is serving unix socket {sock} (for nginx)" in output
    assert not sock.exists()  # vacuum


@pytest.mark.parametrize(("listener", "public_url", "expected"), [
    (Listener("127.0.0.1", 8000), "", []),
    (Listener(socket="/run/mayfly/mayfly.sock"), "", []),
    (Listener("0.0.0.0", 8000), "https://secrets.example.org", ["loopback"]),
    (Listener("0.0.0.0", 8000), "", ["loopback", "MAYFLY_PUBLIC_URL"]),
])
def test_serve_warns_when_reachable_from_outside_and_links_follow_the_host_header(
        listener, public_url, expected):
    found = warnings(listener, Settings(public_url=public_url))
    assert len(found) == len(expected)
    for line, word in zip(found, expected, strict=True):
        assert word in line
