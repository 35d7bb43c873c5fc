"""Schema versions: SQLite's user_version, Redis's format key, and a released database upgraded."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mayfly import app_rules, create_app, crypto
from mayfly.client import Link
from mayfly.errors import StorageTooNew
from mayfly.storage import migrations, open_storage
from mayfly.storage.sqlite import SQLiteStorage

from ..conftest import FakeClock
from ..live import free_port
from .test_contract import NOW, REPLY_KEY, new_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASE = FIXTURES / "release-0.1.0"
MAYFLY = str(Path(sys.executable).with_name("mayfly"))


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_a_fresh_database_runs_every_step_and_records_the_version(tmp_path):
    storage = SQLiteStorage(str(tmp_path / "mayfly.db"))
    assert storage.migrated == list(range(1, len(migrations.SQLITE) + 1))
    assert user_version(tmp_path / "mayfly.db") == len(migrations.SQLITE)
    assert SQLiteStorage(str(tmp_path / "mayfly.db")).migrated == []


@pytest.fixture
def upgraded(tmp_path):
    """The 0.1.0 release's database, copied and opened by this code, at the time it was made."""
    shutil.copy(RELEASE / "mayfly.db", tmp_path / "mayfly.db")
    record = json.loads((RELEASE / "links.json").read_text())
    assert user_version(tmp_path / "mayfly.db") == 0  # the release had no version
    app = create_app({"data_dir": str(tmp_path), "rate_limit_create": "",
                      "rate_limit_reveal": ""})
    app_rules(app).clock = FakeClock(record["made_at"] + 60)
    yield app, record
    app_rules(app).storage.close()


def reveal(client, link: str, passphrase: str | None = None):
    """Reveal a link as the CLI would; return (response, keys)."""
    parsed = Link.parse(link)
    meta = client.get(f"/api/v1/secrets/{parsed.id}").get_json()
    kdf = None
    if passphrase:
        kdf = crypto.Kdf(crypto.b64decode(meta["kdf"]["salt"]), meta["kdf"]["iterations"])
    keys = crypto.derive_keys(parsed.key(), passphrase, kdf)
    response = client.post(f"/api/v1/secrets/{parsed.id}/reveal", json={
        "link_proof": crypto.b64encode(keys.link_proof),
        "access_proof": crypto.b64encode(keys.access_proof)})
    return response, keys


def test_an_upgraded_release_database_reveals_its_unread_secrets(upgraded, tmp_path):
    app, record = upgraded
    assert app_rules(app).storage.migrated == list(range(1, len(migrations.SQLITE) + 1))
    assert user_version(tmp_path / "mayfly.db") == len(migrations.SQLITE)
    client = app.test_client()
    for secret in record["unread"]:
        response, keys = reveal(client, secret["link"], secret.get("passphrase"))
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        message = crypto.unpack(crypto.unseal(keys.content_key,
                                              crypto.b64decode(body["ciphertext"])))
        assert message.text == secret["text"]
        assert body["views_left"] == secret.get("views_left", 1) - 1


def test_an_upgraded_release_secret_takes_no_reply(upgraded):
    # Step 2 (replies) gives older secrets no reply key: read, they accept no reply.
    app, record = upgraded
    client = app.test_client()
    secret = record["unread"][0]
    response, keys = reveal(client, secret["link"], secret.get("passphrase"))
    assert response.get_json()["reply_public_key"] is None
    parsed = Link.parse(secret["link"])
    posted = client.post(f"/api/v1/secrets/{parsed.id}/replies", json={
        "link_proof": crypto.b64encode(keys.link_proof),
        "ciphertext": crypto.b64encode(b"\x04" + bytes(64) + b"\x01" + bytes(40))})
    assert posted.status_code == 404


def test_an_upgraded_release_database_keeps_read_and_burned_secrets_gone(upgraded):
    app, record = upgraded
    client = app.test_client()
    for secret, state in [(record["read"][0], "read"), (record["burned"][0], "burned")]:
        response, _ = reveal(client, secret["link"])
        assert response.status_code == 404
        receipt = Link.parse(secret["receipt_link"], kind="r")
        answer = client.get(f"/api/v1/secrets/{receipt.id}/receipt",
                            headers={"Authorization": f"Bearer {receipt.fragment}"})
        assert answer.status_code == 200
        assert answer.get_json()["state"] == state


def test_a_database_from_a_newer_mayfly_is_refused(tmp_path):
    SQLiteStorage(str(tmp_path / "mayfly.db"))
    with sqlite3.connect(tmp_path / "mayfly.db") as db:
        db.execute(f"PRAGMA user_version = {len(migrations.SQLITE) + 1}")
    with pytest.raises(StorageTooNew, match="written by a newer mayfly"):
        SQLiteStorage(str(tmp_path / "mayfly.db"))


def test_serve_refuses_a_newer_database_in_one_line(tmp_path):
    SQLiteStorage(str(tmp_path / "mayfly.db"))
    with sqlite3.connect(tmp_path / "mayfly.db") as db:
        db.execute("PRAGMA user_version = 999")
    env = {"PATH": "/usr/bin:/bin", "MAYFLY_DATA_DIR": str(tmp_path)}
    result = subprocess.run([MAYFLY, "serve", "--port", str(free_port())], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: the database {tmp_path / 'mayfly.db'} is at"
                                    f" format version 999, but this mayfly knows versions up"
                                    f" to {len(migrations.SQLITE)} only")
    assert len(result.stderr.splitlines()) == 1


def _open_and_report(path: str, start, results) -> None:  # runs in a child process
    start.wait()
    results.put(SQLiteStorage(path).migrated)


def test_workers_starting_at_once_run_each_step_exactly_once(tmp_path):
    path = str(tmp_path / "mayfly.db")
    context = multiprocessing.get_context("fork")  # as uWSGI forks its workers
    start, results = context.Event(), context.Queue()
    children = [context.Process(target=_open_and_report, args=(path, start, results))
                for _ in range(8)]
    for child in children:
        child.start()
    start.set()
    ran = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert sorted(step for steps in ran for step in steps) == list(
        range(1, len(migrations.SQLITE) + 1))
    assert user_version(Path(path)) == len(migrations.SQLITE)


def test_rows_are_read_by_column_name(tmp_path, monkeypatch):
    # A later step that rebuilds the table with its columns in another order
    # must not change what the code reads.
    reordered = """
    CREATE TABLE secrets_new (notify_language TEXT, notify_address TEXT,
        kind TEXT NOT NULL DEFAULT 'secret',
        replies_left INTEGER NOT NULL DEFAULT 0, reply_hash BLOB,
        reply_wrapped_key BLOB, reply_public_key BLOB,
        ended_at REAL, last_read_at REAL, first_read_at REAL,
        failed_attempts INTEGER NOT NULL DEFAULT 0, views_left INTEGER NOT NULL,
        max_views INTEGER NOT NULL, keep_until REAL NOT NULL, expires_at REAL NOT NULL,
        created_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'waiting',
        manage_hash BLOB NOT NULL, kdf TEXT, access_hash BLOB, link_hash BLOB,
        id TEXT PRIMARY KEY);
    INSERT INTO secrets_new SELECT notify_language, notify_address, kind, replies_left,
        reply_hash, reply_wrapped_key, reply_public_key, ended_at, last_read_at, first_read_at,
        failed_attempts,
        views_left, max_views, keep_until, expires_at, created_at, state, manage_hash, kdf,
        access_hash, link_hash, id FROM secrets;
    DROP TABLE secrets;
    ALTER TABLE secrets_new RENAME TO secrets;
    """
    monkeypatch.setattr(migrations, "SQLITE", [*migrations.SQLITE, reordered])
    storage = SQLiteStorage(str(tmp_path / "mayfly.db"))
    record = new_record(views=2, kdf={"name": "PBKDF2-HMAC-SHA256"}, reply_key=REPLY_KEY)
    storage.create(record)
    live = storage.lookup(record.id, NOW)
    assert (live.link_hash, live.access_hash, live.kdf, live.views_left) == (
        b"L" * 32, b"A" * 32, {"name": "PBKDF2-HMAC-SHA256"}, 2)
    assert live.reply_public_key == REPLY_KEY.public_key
    assert storage.take(record.id, NOW).views_left == 1
    receipt = storage.receipt(record.id, NOW)
    assert (receipt.manage_hash, receipt.max_views, receipt.views_left) == (b"M" * 32, 2, 1)
    assert (receipt.reply_key, receipt.reply_hash, receipt.replies_left) == (
        REPLY_KEY, b"L" * 32, 1)
    storage.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis", "redis_cluster"])
def test_redis_data_gets_this_codes_format_and_a_newer_one_is_refused(request, backend,
                                                                      tmp_path):
    url = request.getfixturevalue(f"{backend}_url")
    storage = open_storage(url, str(tmp_path))
    client = storage._redis()
    assert int(client.get(migrations.FORMAT_KEY)) == migrations.REDIS_FORMAT
    client.set(migrations.FORMAT_KEY, migrations.REDIS_FORMAT + 1)
    try:
        with pytest.raises(StorageTooNew, match="the Redis data is at format version 2"):
            open_storage(url, str(tmp_path))
    finally:
        client.delete(migrations.FORMAT_KEY)
        storage.close()


def test_secrets_written_before_requests_stay_secrets_after_step_3(tmp_path, monkeypatch):
    path = str(tmp_path / "mayfly.db")
    monkeypatch.setattr(migrations, "SQLITE", migrations.SQLITE[:2])
    SQLiteStorage(path).close()
    record = new_record(reply_key=REPLY_KEY)
    with sqlite3.connect(path) as db:  # a secret as the code of schema version 2 wrote it
        db.execute("INSERT INTO secrets (id, link_hash, access_hash, manage_hash, created_at,"
                   " expires_at, keep_until, max_views, views_left, reply_public_key,"
                   " reply_wrapped_key, reply_hash) VALUES (?,?,?,?,?,?,?,1,1,?,?,?)",
                   (record.id, record.link_hash, record.access_hash, record.manage_hash,
                    record.created_at, record.expires_at, record.keep_until,
                    REPLY_KEY.public_key, REPLY_KEY.wrapped_key, record.link_hash))
        db.execute("INSERT INTO ciphertexts VALUES (?, ?)", (record.id, record.ciphertext))
    monkeypatch.undo()
    after = SQLiteStorage(path)
    assert after.migrated == list(range(3, len(migrations.SQLITE) + 1))
    assert after.lookup(record.id, NOW).kind == "secret"
    assert after.peek(record.id, NOW) is None  # a secret is no request: nothing to peek at
    assert after.take(record.id, NOW).ciphertext == record.ciphertext
    assert after.receipt(record.id, NOW).kind == "secret"
