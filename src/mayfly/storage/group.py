"""Group commit: the write transactions of one process's threads share one COMMIT.

With ``synchronous=FULL`` every COMMIT waits for an fsync of the WAL, a few
milliseconds, and SQLite lets one writer in at a time: one commit per request
caps the whole server at about one write per fsync. When several threads of a
uWSGI worker want to write at once, the first becomes the *leader*: it takes
the writer lock (the file lock, then ``BEGIN IMMEDIATE``), gives the
transaction to each thread that queued up to then, one after the other, and
commits them all at once: one fsync for the batch.

Each thread runs its own ``with`` block on the shared connection while the
others wait, so the code of a write reads as if it were alone. Each block runs
inside a ``SAVEPOINT``: a block that raises is rolled back alone and its
thread gets the error at once; the others still commit. No thread leaves its
``with`` block normally before the COMMIT that holds its change has returned:
if that COMMIT fails, every block of the batch that had not already failed
raises ``StorageUnavailable`` and nothing of the batch is stored. A process
killed mid-batch has committed nothing of it: SQLite rolls the transaction
back, and the kernel drops the file lock with the process.

Across processes nothing changes: leaders of different workers queue on the
file lock, and SQLite's own lock still guarantees atomicity.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import StorageUnavailable

# The states of one thread's place in a batch, in order.
QUEUED, TURN, RAN, COMMITTED, FAILED = range(5)
# Batches larger than this wait for the next commit: a bound on how long the
# first of a batch waits for the others' blocks.
MAX_BATCH = 64


class _Place:
    """One thread's write in a batch: where it stands and whether its block broke the batch."""

    __slots__ = ("state", "broken")

    def __init__(self) -> None:
        self.state = QUEUED
        self.broken = False


class GroupCommit:
    """Write transactions of this process's threads, committed in batches.

    ``connect`` opens the one connection of the process that writes; ``lock``
    and ``unlock`` take and release the writer's file lock.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock: Callable[[], None],
                 unlock: Callable[[], None]):
        self._connect = connect
        self._lock = lock
        self._unlock = unlock
        self._pid: int | None = None

    def _fresh(self) -> None:
        """Per-process state: no lock, queue or connection crosses a fork."""
        if self._pid != os.getpid():
            self._cond = threading.Condition()
            self._queue: list[_Place] = []
            self._leading = False
            self._db: sqlite3.Connection | None = None
            self._pid = os.getpid()

    def close(self) -> None:
        """Close this process's writing connection (reopened on the next write)."""
        if self._pid == os.getpid() and self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One thread's change, committed with those of the threads that queued with it."""
        self._fresh()
        me = _Place()
        cond = self._cond
        with cond:
            self._queue.append(me)
            while me.state == QUEUED and self._leading:
                cond.wait()
            leader = me.state == QUEUED
            if leader:
                self._leading = True
        if leader:
            yield from self._lead(me)
        else:
            yield from self._follow(me)

    def _lead(self, me: _Place) -> Iterator[sqlite3.Connection]:
        """Open the transaction, give every queued thread its turn, run our block, commit."""
        batch: list[_Place] = []
        try:
            self._lock()
            try:
                with self._cond:
                    # Everyone queued until now, up to MAX_BATCH; ourselves last.
                    others = [p for p in self._queue if p is not me][:MAX_BATCH - 1]
                    batch = [*others, me]
                    self._queue = [p for p in self._queue if p not in batch]
                db = self._begin()
                for place in others:
                    self._give_turn(place)
                broken = any(p.broken for p in others)
                error: BaseException | None = None
                if not broken:
                    try:
                        with self._block(db, savepoint=bool(others), place=me):
                            yield db
                    except BaseException as exc:  # ours alone: the others still commit
                        error = exc
                committed = self._finish(db, batch, broken or me.broken)
                if error is not None:
                    raise error
                if not committed:
                    raise StorageUnavailable()
            finally:
                self._unlock()
        finally:
            with self._cond:
                for place in batch:
                    if place.state < RAN:  # never given a turn: the batch failed first
                        place.state = FAILED
                self._leading = False
                self._cond.notify_all()

    def _begin(self) -> sqlite3.Connection:
        try:
            if self._db is None:
                self._db = self._connect()
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        return self._db

    def _give_turn(self, place: _Place) -> None:
        """Let one queued thread run its block, and wait until it has."""
        with self._cond:
            place.state = TURN
            self._cond.notify_all()
            while place.state == TURN:
                self._cond.wait()

    def _finish(self, db: sqlite3.Connection, batch: list[_Place], broken: bool) -> bool:
        """COMMIT the batch (ROLLBACK if a block could not be undone); tell everyone."""
        ok = False
        if not broken:
            try:
                db.execute("COMMIT")
                ok = True
            except sqlite3.Error:
                pass
        if not ok and db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                self.close()  # a connection that cannot roll back is not reused
        with self._cond:
            for place in batch:
                if place.state == RAN:
                    place.state = COMMITTED if ok else FAILED
            self._cond.notify_all()
        return ok

    def _follow(self, me: _Place) -> Iterator[sqlite3.Connection]:
        """Our turn came (or the batch failed first): run our block, wait for the COMMIT."""
        cond = self._cond
        if me.state == FAILED:
            raise StorageUnavailable()
        try:
            with self._block(self._db, savepoint=True, place=me):
                yield self._db
        finally:
            with cond:
                done = me.state
                me.state = RAN if done == TURN else done
                cond.notify_all()
        with cond:
            while me.state == RAN:
                cond.wait()
            if me.state != COMMITTED:
                raise StorageUnavailable()

    @contextmanager
    def _block(self, db: sqlite3.Connection, savepoint: bool,
               place: _Place) -> Iterator[None]:
        """Run one thread's block; undo it alone (to its savepoint) if it raises."""
        if savepoint:
            try:
                db.execute("SAVEPOINT one_write")
            except sqlite3.Error as exc:
                place.broken = True
                raise StorageUnavailable() from exc
        try:
            yield
        except BaseException as exc:
            if savepoint:
                try:
                    db.execute("ROLLBACK TO one_write")
                    db.execute("RELEASE one_write")
                except sqlite3.Error:
                    place.broken = True
            else:
                place.broken = True  # alone in the batch: the whole transaction goes
            if isinstance(exc, sqlite3.Error):
                raise StorageUnavailable() from exc
            raise
        if savepoint:
            try:
                db.execute("RELEASE one_write")
            except sqlite3.Error as exc:
                place.broken = True
                raise StorageUnavailable() from exc
