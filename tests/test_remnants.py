"""After a secret ends, its bytes leave mayfly's files, with the server's connections open.

The files are read as bytes (the database, its -wal and -shm; Redis's AOF
directory) while uWSGI's workers keep their connections: closing them would
checkpoint the WAL and hide exactly what these tests look for.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from mayfly.crypto import b64encode

from .helpers import KDF
from .live import LiveServer

pytestmark = pytest.mark.slow

MAYFLY = str(Path(sys.executable).with_name("mayfly"))
# The server checkpoints about a second after an ending (SQLiteStorage.SCRUB_AFTER);
# the rest is room for a machine busy with other tests.
WITHIN = 15.0


class Sender:
    """Creates secrets over HTTP (one keep-alive session) and ends them in each way."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def create(self, expires_in: int = 3600, kdf: dict | None = None) -> dict:
        ciphertext = b"\x01" + os.urandom(20_000)
        link, access = os.urandom(32), os.urandom(32)
        body = {"ciphertext": b64encode(ciphertext),
                "link_proof_hash": b64encode(hashlib.sha256(link).digest()),
                "access_proof_hash": b64encode(hashlib.sha256(access).digest()),
                "kdf": kdf, "expires_in": expires_in}
        response = self.session.post(f"{self.url}/api/v1/secrets", json=body, timeout=30)
        assert response.status_code == 201, response.text
        made = response.json()
        return {**made, "ciphertext": ciphertext, "link": link, "access": access}

    def reveal(self, made: dict, access: bytes | None = None) -> requests.Response:
        proofs = {"link_proof": b64encode(made["link"]),
                  "access_proof": b64encode(access or made["access"])}
        return self.session.post(f"{self.url}/api/v1/secrets/{made['id']}/reveal",
                                 json=proofs, timeout=30)

    def burn(self, made: dict) -> requests.Response:
        return self.session.delete(f"{self.url}/api/v1/secrets/{made['id']}", timeout=30,
                                   headers={"Authorization": f"Bearer {made['manage_token']}"})


def purge(server: LiveServer) -> str:
    """`mayfly purge` with the server's settings, as the systemd timer runs it."""
    done = subprocess.run([MAYFLY, "purge"], env=server.env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def files_holding(needle: bytes, folder: Path) -> list[str]:
    """The files under ``folder`` whose bytes contain ``needle``."""
    found = []
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file() and needle in path.read_bytes():
                found.append(path.name)
        except FileNotFoundError:  # a WAL or an AOF part removed while we looked
            pass
    return found


def wait_until_gone(needle: bytes, folder: Path, within: float = WITHIN) -> float:
    """Seconds until no file under ``folder`` holds ``needle``; fail after ``within``."""
    started = time.monotonic()
    while files_holding(needle, folder):
        if time.monotonic() - started > within:
            pytest.fail(f"still in {files_holding(needle, folder)} after {within} s")
        time.sleep(0.1)
    return time.monotonic() - started


def end_by_reading(sender: Sender, server: LiveServer) -> dict:
    made = sender.create()
    yield made
    assert sender.reveal(made).status_code == 200


def end_by_burning(sender: Sender, server: LiveServer):
    made = sender.create()
    yield made
    assert sender.burn(made).status_code == 204


def end_by_failing(sender: Sender, server: LiveServer):
    made = sender.create(kdf=KDF)
    yield made
    for _ in range(5):
        assert sender.reveal(made, access=os.urandom(32)).status_code == 403


def end_by_expiring_then_a_write(sender: Sender, server: LiveServer):
    made = sender.create(expires_in=1)
    yield made
    time.sleep(1.5)
    sender.create()  # a write after purge_interval purges (MAYFLY_PURGE_INTERVAL=1)


def end_by_expiring_then_the_purge_timer(sender: Sender, server: LiveServer):
    made = sender.create(expires_in=1)
    yield made
    time.sleep(1.5)
    assert purge(server).startswith("purged 1 expired")


ENDINGS: dict[str, Callable] = {
    "read": end_by_reading, "burned": end_by_burning, "failed": end_by_failing,
    "expired, purged on a write": end_by_expiring_then_a_write,
    "expired, purged by mayfly purge": end_by_expiring_then_the_purge_timer,
}
SETTINGS = {"MAYFLY_MIN_LIFETIME": "1", "MAYFLY_PURGE_INTERVAL": "1"}


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory):
    """mayfly under uWSGI on SQLite, three workers each holding its connection."""
    with LiveServer(tmp_path_factory.mktemp("remnants"), processes=3, env=SETTINGS) as server:
        yield server


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_an_ended_secret_leaves_the_sqlite_files_soon(sqlite_server, ending):
    data = sqlite_server.workdir / "data"
    sender = Sender(sqlite_server.url)
    steps = ENDINGS[ending](sender, sqlite_server)
    made = next(steps)
    needle = made["ciphertext"][10_000:10_064]
    assert files_holding(needle, data)  # so that the check below means something
    next(steps, None)
    wait_until_gone(needle, data)
    assert {path.name for path in data.iterdir()} >= {"mayfly.db"}
    # The workers' connections are still open: the server goes on answering.
    assert sender.session.get(f"{sqlite_server.url}/healthz", timeout=10).status_code == 200


def answered_request(sender: Sender) -> tuple[dict, bytes, bytes]:
    """A request over HTTP, answered; returns it with its note's and answer's ciphertexts."""
    from .test_api_replies import REPLY_KEY

    note = b"\x01" + os.urandom(20_000)
    answer = b"\x04" + os.urandom(64) + b"\x01" + os.urandom(20_000)
    link, access = os.urandom(32), os.urandom(32)
    body = {"ciphertext": b64encode(note), "reply_key": REPLY_KEY,
            "link_proof_hash": b64encode(hashlib.sha256(link).digest()),
            "access_proof_hash": b64encode(hashlib.sha256(access).digest())}
    made = sender.session.post(f"{sender.url}/api/v1/requests", json=body, timeout=30).json()
    proofs = {"link_proof": b64encode(link), "access_proof": b64encode(access)}
    answered = sender.session.post(f"{sender.url}/api/v1/requests/{made['id']}/answer",
                                   json={**proofs, "ciphertext": b64encode(answer)}, timeout=30)
    assert answered.status_code == 201, answered.text
    return made, note, answer


@pytest.mark.parametrize("ending", ["answer read", "burned"])
def test_an_ended_request_leaves_the_sqlite_files_soon_with_its_answer(sqlite_server, ending):
    data = sqlite_server.workdir / "data"
    sender = Sender(sqlite_server.url)
    made, note, answer = answered_request(sender)
    needles = [note[10_000:10_064], answer[10_000:10_064]]
    assert all(files_holding(needle, data) for needle in needles)
    auth = {"Authorization": f"Bearer {made['manage_token']}"}
    if ending == "burned":
        assert sender.session.delete(f"{sender.url}/api/v1/secrets/{made['id']}",
                                     headers=auth, timeout=30).status_code == 204
    else:
        taken = sender.session.post(f"{sender.url}/api/v1/secrets/{made['id']}/replies/1/reveal",
                                    headers=auth, timeout=30)
        assert taken.status_code == 200
    for needle in needles:
        wait_until_gone(needle, data)


@pytest.mark.parametrize("backend", ["redis_aof_server", "redis_cluster"])
def test_an_ended_secret_leaves_the_redis_aof_after_mayfly_purge(request, tmp_path, backend):
    redis_servers = request.getfixturevalue(backend)
    nodes = getattr(redis_servers, "nodes", [redis_servers])
    url = redis_servers.url
    with LiveServer(tmp_path, processes=2, env={"MAYFLY_STORAGE_URL": url}) as server:
        sender = Sender(server.url)
        made = sender.create()
        needle = made["ciphertext"][10_000:10_064]
        held = [node for node in nodes if files_holding(needle, node.workdir)]
        assert held  # the AOF has it, as the review found
        assert sender.reveal(made).status_code == 200
        time.sleep(1.5)  # appendfsync everysec has long written the deletion too
        assert any(files_holding(needle, node.workdir) for node in nodes)
        purge(server)
        for node in nodes:
            wait_until_gone(needle, node.workdir)
