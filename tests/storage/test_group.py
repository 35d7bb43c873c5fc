"""Group commit (storage/group.py): writes of one process's threads share a COMMIT.

Each test holds SQLite's writer file lock from outside while threads queue, so
that the batch they form is known, then lets go.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest

from mayfly.errors import StorageUnavailable
from mayfly.storage.sqlite import SQLiteStorage

from .test_contract import NOW, new_record


@pytest.fixture
def storage(tmp_path):
    """A SQLite backend whose COMMITs are counted in ``storage.commits``."""
    store = SQLiteStorage(str(tmp_path / "mayfly.db"))
    store.commits = []
    connect = store._group._connect

    def counting():
        db = connect()
        db.set_trace_callback(lambda sql: sql == "COMMIT" and store.commits.append(sql))
        return db

    store._group._connect = counting
    yield store
    store.close()


@contextmanager
def writer_lock_held(path: str):
    """Hold the writer's file lock as another process would, until the block ends."""
    fd = os.open(path + ".writer", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queued(storage) -> int:
    group = storage._group
    with group._cond:
        return len(group._queue)


def in_threads(storage, calls) -> list:
    """Run each call in a thread of its own while the writer lock is held elsewhere,
    let go once all are queued (one batch); return each call's result or exception.

    The first call's thread queues first, and so leads the batch and runs last.
    """
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            results[i] = call()
        except Exception as exc:  # handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    with writer_lock_held(storage.path):
        threads[0].start()
        wait_until(lambda: storage._group._leading)
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: queued(storage) == len(calls))
    for thread in threads:
        thread.join(30)
    return results


def test_writes_that_wait_together_share_one_commit(storage):
    records = [new_record() for _ in range(8)]
    in_threads(storage, [lambda r=r: storage.create(r) for r in records])
    assert len(storage.commits) == 1
    assert all(storage.lookup(r.id, NOW) is not None for r in records)
    assert storage.counters()["secrets_created"] == 8


def test_concurrent_reveals_in_one_batch_hand_out_each_view_once(storage):
    record = new_record(views=3)
    storage.create(record)
    storage.commits.clear()
    results = in_threads(storage, [lambda: storage.take(record.id, NOW)] * 8)
    winners = [r for r in results if r is not None]
    assert sorted(w.views_left for w in winners) == [0, 1, 2]
    assert len(storage.commits) == 1
    assert storage.lookup(record.id, NOW) is None
    assert storage.counters()["views_revealed"] == 3


@pytest.mark.parametrize("failing", [0, 3, 7], ids=["leader", "middle", "last"])
def test_a_failing_write_fails_alone_and_the_batch_commits(storage, failing):
    taken = new_record()
    storage.create(taken)
    records = [new_record() for _ in range(8)]
    records[failing] = taken  # its id is taken: the insert breaks a constraint in SQLite
    results = in_threads(storage, [lambda r=r: storage.create(r) for r in records])
    assert isinstance(results[failing], StorageUnavailable)
    assert [i for i, r in enumerate(results) if r is not None] == [failing]
    for i, record in enumerate(records):
        if i != failing:
            assert storage.lookup(record.id, NOW) is not None
    assert storage.counters()["secrets_created"] == 1 + 7


def test_a_block_that_raises_undoes_only_its_own_statements(storage):
    kept, undone = new_record(), new_record()

    def broken_write():
        with storage._write() as db:
            db.execute("INSERT INTO counters (name, value) VALUES ('undone', 1)")
            raise KeyError("a bug in one write")

    results = in_threads(storage, [lambda: storage.create(kept), broken_write,
                                   lambda: storage.create(undone)])
    assert isinstance(results[1], KeyError)
    assert results[0] is None and results[2] is None
    names = {row["name"] for row in storage._db().execute("SELECT name FROM counters")}
    assert "undone" not in names
    assert storage.lookup(kept.id, NOW) and storage.lookup(undone.id, NOW)


def test_a_failed_commit_fails_every_write_of_the_batch(storage):
    class NoCommit(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql == "COMMIT":
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    storage._group._connect = lambda: sqlite3.connect(
        storage.path, isolation_level=None, factory=NoCommit, check_same_thread=False)
    records = [new_record() for _ in range(5)]
    results = in_threads(storage, [lambda r=r: storage.create(r) for r in records])
    assert all(isinstance(r, StorageUnavailable) for r in results), results
    assert all(storage.lookup(r.id, NOW) is None for r in records)
    assert storage.counters()["secrets_created"] == 0


def test_a_process_killed_mid_batch_committed_nothing_of_it(storage, tmp_path):
    storage.close()
    records = [new_record() for _ in range(4)]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            def killer():
                with storage._write() as db:
                    db.execute("INSERT INTO counters (name, value) VALUES ('killed', 1)")
                    os.kill(os.getpid(), signal.SIGKILL)

            with writer_lock_held(storage.path):
                # The killer queues first, so it leads and runs its own block last,
                # after the other writes of the batch ran on the shared connection.
                threading.Thread(target=killer).start()
                wait_until(lambda: storage._group._leading)
                for record in records:
                    threading.Thread(target=storage.create, args=(record,)).start()
                wait_until(lambda: queued(storage) == 1 + len(records))
            time.sleep(30)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert all(storage.lookup(r.id, NOW) is None for r in records)
    assert storage.counters()["secrets_created"] == 0
    # The kernel dropped the dead leader's file lock: the next write goes through.
    after = new_record()
    storage.create(after)
    assert storage.lookup(after.id, NOW) is not None


def test_a_lone_write_needs_no_savepoint(storage):
    statements = []
    connect = storage._group._connect

    def tracing():
        db = connect()
        db.set_trace_callback(statements.append)
        return db

    storage._group._connect = tracing
    storage.create(new_record())
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert not any(s.startswith("SAVEPOINT") for s in statements)


def test_many_threads_writing_at_once_store_exactly_what_succeeded(storage):
    taken = new_record()
    storage.create(taken)
    start = threading.Barrier(16)
    outcomes: list[tuple[str, bool]] = []

    def writer(n):
        start.wait()
        for i in range(30):
            record = taken if (n + i) % 7 == 0 else new_record()  # every 7th breaks
            try:
                storage.create(record)
                outcomes.append((record.id, True))
            except StorageUnavailable:
                outcomes.append((record.id, False))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = [secret_id for secret_id, ok in outcomes if ok]
    assert len(outcomes) == 16 * 30
    assert all(secret_id != taken.id for secret_id in stored)
    assert all(storage.lookup(secret_id, NOW) is not None for secret_id in stored)
    assert len(stored) == sum(1 for n in range(16) for i in range(30) if (n + i) % 7)
    assert storage.counters()["secrets_created"] == 1 + len(stored)
    assert len(storage.commits) < 1 + len(stored)  # some writes shared a commit
