"""Expiry: unreadable the moment it expires, physically gone after a purge."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest
from click.testing import CliRunner

from mayfly import app_rules, cli, create_app
from mayfly.storage.sqlite import SCRUB_AFTER

from .helpers import make_secret
from .test_api import reveal


def rows(db_path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def app(tmp_path, clock):
    """The application on its default storage: a SQLite file in the data directory."""
    app = create_app({"data_dir": str(tmp_path), "rate_limit_create": "",
                      "rate_limit_reveal": ""})
    app_rules(app).clock = clock
    yield app
    app_rules(app).storage.close()


def test_expired_ciphertext_leaves_the_database_on_purge(app, client, clock, tmp_path):
    made = make_secret(client, expires_in=300)
    db_path = tmp_path / "mayfly.db"
    assert rows(db_path, "SELECT count(*) FROM ciphertexts") == [(1,)]
    clock.advance(300)
    assert reveal(client, made).status_code == 404
    purged = app_rules(app).purge()
    assert (purged.expired, purged.receipts) == (1, 0)
    assert rows(db_path, "SELECT count(*) FROM ciphertexts") == [(0,)]
    assert rows(db_path, "SELECT link_hash, access_hash, kdf, state FROM secrets") == [
        (None, None, None, "expired")]
    clock.advance(7 * 86400)
    app_rules(app).purge()
    assert rows(db_path, "SELECT count(*) FROM secrets") == [(0,)]


def test_writes_purge_now_and_then_without_anyone_remembering(app, client, clock, tmp_path):
    old = make_secret(client, expires_in=300)
    clock.advance(301)
    make_secret(client)  # more than purge_interval later: this write purges
    assert rows(tmp_path / "mayfly.db", f"SELECT state FROM secrets WHERE id = '{old.id}'") == [
        ("expired",)]
    assert rows(tmp_path / "mayfly.db", "SELECT count(*) FROM ciphertexts") == [(1,)]


def test_read_secret_leaves_no_ciphertext_or_proof_hash_behind(app, client, tmp_path):
    made = make_secret(client, size=20_000)
    db_path = tmp_path / "mayfly.db"
    app_rules(app).storage.close()  # the last connection checkpoints the WAL
    assert made.ciphertext[1:64] in db_path.read_bytes()  # so the check below means something
    reveal(client, made)
    assert rows(db_path, "SELECT count(*) FROM ciphertexts") == [(0,)]
    assert rows(db_path, "SELECT link_hash, access_hash, state FROM secrets") == [
        (None, None, "read")]
    app_rules(app).storage.close()
    # secure_delete: the freed pages were overwritten, not left for a forensic reader.
    assert made.ciphertext[1:64] not in db_path.read_bytes()


@pytest.mark.parametrize("end", ["read", "burned"])
def test_an_ended_secret_leaves_the_wal_soon_with_connections_open(app, client, tmp_path, end):
    made = make_secret(client, size=20_000)
    needle = made.ciphertext[1:64]
    files = [tmp_path / name for name in ("mayfly.db", "mayfly.db-wal", "mayfly.db-shm")]

    def holding() -> list[str]:
        return [path.name for path in files if path.exists() and needle in path.read_bytes()]

    assert holding() == ["mayfly.db-wal"]
    if end == "read":
        assert reveal(client, made).status_code == 200
    else:
        assert client.delete(f"/api/v1/secrets/{made.id}", headers=made.auth()).status_code == 204
    deadline = time.monotonic() + 10 * SCRUB_AFTER
    while holding() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holding() == []  # the app's connection is still open: nobody closed it
    assert app_rules(app).storage.ping() is None


def test_purge_command_purges_the_configured_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("MAYFLY_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli.main, ["purge"])
    assert result.exit_code == 0, result.output
    assert result.output == ("purged 0 expired message(s) and 0 old receipt(s)\n"
                             "checkpointed the database and truncated its WAL\n")


def test_commands_report_a_bad_setting_in_one_line(monkeypatch):
    monkeypatch.setenv("MAYFLY_MAX_VIEWS", "lots")
    for command in ("purge", "serve"):
        result = CliRunner().invoke(cli.main, [command])
        assert result.exit_code == 1
        assert "MAYFLY_MAX_VIEWS" in result.output
