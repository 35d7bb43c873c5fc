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
from collections.abc import Callable

from ..errors import StorageUnavailable

# The states of one thread's place in a batch, in order.
QUEUED, TURN, RAN, COMMITTED, FAILED = range(5)
# Batches larger than this wait for the next commit: a bound on how long the
# first of a batch waits for the others' blocks.
MAX_BATCH = 64


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
        self._fresh()

    def _fresh(self) -> None:
        """Per-process state: no lock, queue or connection crosses a fork."""
        self._cond = threading.Condition()
        self._queue: list[Write] = []
        self._leading = False
        self._db: sqlite3.Connection | None = None
        self._pid = os.getpid()

    def close(self) -> None:
        """Close this process's writing connection (reopened on the next write)."""
        if self._pid == os.getpid() and self._db is not None:
            self._db.close()
            self._db = None

    def transaction(self) -> Write:
        """One thread's change, committed with those of the threads that queued with it."""
        if self._pid != os.getpid():
            self._fresh()
        return Write(self)

    def _begin(self) -> sqlite3.Connection:
        try:
            if self._db is None:
                self._db = self._connect()
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        return self._db

    def _give_turn(self, place: Write) -> None:
        """Let one queued thread run its block, and wait until it has."""
        with self._cond:
            place.state = TURN
            self._cond.notify_all()
            while place.state == TURN:
                self._cond.wait()

    def _finish(self, batch: list[Write], broken: bool) -> bool:
        """COMMIT the batch (ROLLBACK if a block could not be undone); tell the others."""
        db = self._db
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
        if len(batch) > 1:
            with self._cond:
                for place in batch:
                    if place.state == RAN:
                        place.state = COMMITTED if ok else FAILED
                self._cond.notify_all()
        return ok

    def _resign(self, batch: list[Write]) -> None:
        """Let the next leader in; whoever of the batch never ran has failed."""
        with self._cond:
            for place in batch:
                if place.state < RAN:
                    place.state = FAILED
            self._leading = False
            self._cond.notify_all()


class Write:
    """One thread's ``with`` block: its place in a batch, as leader or as follower.

    A class rather than a generator: a write that is alone pays for little more
    than the one transaction it would have had anyway.
    """

    __slots__ = ("group", "state", "broken", "lead", "batch", "savepoint")

    def __init__(self, group: GroupCommit):
        self.group = group
        self.state = QUEUED
        self.broken = False  # our block could not be undone: the whole batch must go

    def __enter__(self) -> sqlite3.Connection:
        group = self.group
        with group._cond:
            group._queue.append(self)
            while self.state == QUEUED and group._leading:
                group._cond.wait()
            self.lead = self.state == QUEUED
            if self.lead:
                group._leading = True
        if self.lead:
            return self._open()
        if self.state == FAILED:  # the batch failed before our turn came
            raise StorageUnavailable()
        self.savepoint = True
        try:
            self._mark()
        except BaseException:
            self._done_running()
            raise
        return group._db

    def _open(self) -> sqlite3.Connection:
        """As leader: take the lock, open the transaction, run the others' blocks first."""
        group = self.group
        self.batch = [self]
        try:
            group._lock()
        except BaseException:
            group._resign(self.batch)
            raise
        try:
            with group._cond:
                # Everyone queued until now, up to MAX_BATCH; ourselves last.
                others = [p for p in group._queue if p is not self][:MAX_BATCH - 1]
                self.batch = [*others, self]
                group._queue = [p for p in group._queue if p not in self.batch]
            group._begin()
            for place in others:
                group._give_turn(place)
            self.savepoint = bool(others)
            if any(place.broken for place in others):
                raise StorageUnavailable()
            self._mark()
        except BaseException:
            try:
                if group._db is not None and group._db.in_transaction:
                    group._finish(self.batch, broken=True)
            finally:
                group._unlock()
                group._resign(self.batch)
            raise
        return group._db

    def _mark(self) -> None:
        if self.savepoint:
            try:
                self.group._db.execute("SAVEPOINT one_write")
            except sqlite3.Error as exc:
                self.broken = True
                raise StorageUnavailable() from exc

    def _close_block(self, failed: bool) -> StorageUnavailable | None:
        """Keep our block (RELEASE) or undo it alone (ROLLBACK TO); an error if neither worked."""
        db = self.group._db
        try:
            if failed and self.savepoint:
                db.execute("ROLLBACK TO one_write")
            if self.savepoint:
                db.execute("RELEASE one_write")
        except sqlite3.Error:
            self.broken = True
            return StorageUnavailable()
        if failed and not self.savepoint:
            self.broken = True  # alone in the transaction: it all goes
        return None

    def _done_running(self) -> None:
        """As follower: hand the connection back to the leader."""
        group = self.group
        with group._cond:
            if self.state == TURN:
                self.state = RAN
            group._cond.notify_all()

    def __exit__(self, exc_type, exc, tb) -> bool:
        error = self._close_block(failed=exc is not None)
        if self.lead:
            group = self.group
            try:
                committed = group._finish(self.batch, broken=self.broken)
            finally:
                group._unlock()
                group._resign(self.batch)
        else:
            self._done_running()
            committed = exc is None and error is None and self._wait()
        if isinstance(exc, sqlite3.Error):
            raise StorageUnavailable() from exc
        if exc is not None:
            return False  # ours alone: the others still committed
        if error is not None:
            raise error
        if not committed:
            raise StorageUnavailable()
        return False

    def _wait(self) -> bool:
        """As follower: wait for the leader's COMMIT; whether it held our change."""
        group = self.group
        with group._cond:
            while self.state == RAN:
                group._cond.wait()
            return self.state == COMMITTED
