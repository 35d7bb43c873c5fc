"""``mayfly backup``: a consistent copy of a serving SQLite instance, and a restore from it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from .helpers import create_body
from .live import LiveServer

MAYFLY = str(Path(sys.executable).with_name("mayfly"))


def mayfly(*args: str, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([MAYFLY, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_backup_refuses_redis_storage_and_points_to_its_persistence(tmp_path):
    result = mayfly("backup", str(tmp_path / "copy.db"),
                    env={"MAYFLY_STORAGE_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: mayfly backup copies SQLite storage, and this"
                                    " mayfly stores in Redis: back up Redis with its own")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "copy.db").exists()


def test_backup_never_overwrites_a_file(tmp_path):
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "mayfly.db").close()
    (tmp_path / "copy.db").write_text("keep me")
    result = mayfly("backup", str(tmp_path / "copy.db"),
                    env={"MAYFLY_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert (tmp_path / "copy.db").read_text() == "keep me"


def test_backup_without_a_database_says_where_it_looked(tmp_path):
    result = mayfly("backup", str(tmp_path / "copy.db"),
                    env={"MAYFLY_DATA_DIR": str(tmp_path / "empty")})
    assert result.returncode == 1
    assert result.stderr == (f"Error: there is no database at {tmp_path}/empty/mayfly.db (set"
                             " MAYFLY_DATA_DIR or MAYFLY_STORAGE_URL as the server has them)\n")


@pytest.mark.slow
def test_a_backup_taken_while_serving_and_writing_restores_into_a_fresh_data_dir(tmp_path):
    env = {"MAYFLY_DATA_DIR": str(tmp_path / "live" / "data")}
    with LiveServer(tmp_path / "live", processes=2) as server:
        sent = mayfly("send", "--server", server.url, stdin="kept through a backup", env=env)
        assert sent.returncode == 0, sent.stderr
        stop, created = threading.Event(), []

        def write_all_along():
            session = requests.Session()
            while not stop.is_set():
                response = session.post(f"{server.url}/api/v1/secrets", json=create_body(
                    b"\x01" + os.urandom(2000), os.urandom(32), os.urandom(32)))
                assert response.status_code == 201
                created.append(response.json()["id"])

        writer = threading.Thread(target=write_all_along)
        writer.start()
        try:
            copies = []
            for n in range(3):
                copy = tmp_path / f"backup-{n}.db"
                result = mayfly("backup", str(copy), env=env)
                assert result.returncode == 0, result.stderr
                source = f"{env['MAYFLY_DATA_DIR']}/mayfly.db"
                assert result.stdout == f"backed up {source} to {copy}\n"
                copies.append(copy)
        finally:
            stop.set()
            writer.join(timeout=30)
    assert len(created) > 10  # the server was writing while the copies were taken
    for copy in copies:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert not Path(f"{copy}-wal").exists()
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Restore: the file into an empty data directory of a stopped server, then start it.
    restored = tmp_path / "restored"
    (restored / "data").mkdir(parents=True)
    shutil.copy(copies[-1], restored / "data" / "mayfly.db")
    with LiveServer(restored, processes=1) as again:
        read = mayfly("read", sent.stdout.strip().replace(server.url, again.url), env={})
    assert read.returncode == 0, read.stderr
    assert read.stdout == "kept through a backup\n"
