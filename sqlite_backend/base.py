"""SQLite takes one writer at a time. A writer that finds the write lock taken waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10, 15… ms between tries whatever the lock's holder does:
under load the lock often stands free while its waiters sleep, and an unlucky waiter keeps
losing the race to newcomers. Here a write transaction first takes an exclusive lock on a file
beside the database (flock), so its waiters sleep in the kernel and the next one wakes the
moment the lock is released (bench/README.md, item 24). SQLite's own locking still decides:
the file lock only orders the writers that use this backend, and a writer that does not (an
autocommit statement, another program) waits in the busy handler as before. The kernel
releases the file lock of a process that dies.
"""

import fcntl
import os

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    # The lock file's descriptor, opened by the process `_writer_lock_pid` (a forked child
    # opens its own: an inherited descriptor shares its parent's lock).
    _writer_lock_fd: int | None = None
    _writer_lock_pid: int | None = None
    _holds_writer_lock = False

    def _start_transaction_under_autocommit(self) -> None:
        """Only IMMEDIATE transactions, which take SQLite's write lock at BEGIN, take the file
        lock: a DEFERRED one may only read, and readers never wait for a writer in WAL mode."""
        if self.transaction_mode == "IMMEDIATE" and not self.is_in_memory_db():
            self.acquire_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.release_writer_lock()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self.release_writer_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self.release_writer_lock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self.release_writer_lock()
            self.close_writer_lock_file()

    def acquire_writer_lock(self) -> None:
        fcntl.flock(self.writer_lock_fd(), fcntl.LOCK_EX)
        self._holds_writer_lock = True

    def release_writer_lock(self) -> None:
        if self._holds_writer_lock and self._writer_lock_pid == os.getpid():
            self._holds_writer_lock = False
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)

    def writer_lock_fd(self) -> int:
        if self._writer_lock_fd is None or self._writer_lock_pid != os.getpid():
            self._holds_writer_lock = False
            self._writer_lock_fd = os.open(
                self.writer_lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            self._writer_lock_pid = os.getpid()
        return self._writer_lock_fd

    def close_writer_lock_file(self) -> None:
        if self._writer_lock_fd is not None and self._writer_lock_pid == os.getpid():
            os.close(self._writer_lock_fd)
        self._writer_lock_fd = self._writer_lock_pid = None

    def writer_lock_path(self) -> str:
        return f"{self.settings_dict['NAME']}-writers"
