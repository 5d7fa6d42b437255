"""SQLite takes one writer at a time. A connection that finds the write lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15… up to 100 ms between tries whatever the
lock's holder does: under load the lock often stands free while its waiters sleep, and a waiter
that slept long keeps losing the lock to newcomers (bench/README.md, item 24).

Here, in WAL mode with IMMEDIATE transactions (portal/settings.py), SQLite's handler is off (a
busy timeout of 0 once the connection is open), and a statement that finds the lock taken
outside a transaction (a BEGIN IMMEDIATE, an autocommit write) is tried again after 50 µs, then
after waits that double up to 1 ms, until the busy timeout (OPTIONS["timeout"]) ends in
"database is locked", as before. Inside a transaction nothing is tried again: an IMMEDIATE
transaction holds the write lock from its BEGIN on, and a statement of a transaction cannot be
repeated on its own. executemany() outside a transaction, whose rows each commit on their own,
waits in SQLite's handler as before. In another journal mode (a COMMIT may then wait for
readers) or transaction mode (a statement inside the transaction may wait for the lock),
SQLite's handler stays on.
"""

import sqlite3
from collections.abc import Callable
from time import monotonic, sleep
from typing import Any, TypeVar

from django.db.backends.sqlite3 import base

FIRST_PAUSE = 50e-6
LONGEST_PAUSE = 1e-3
# SQLITE_BUSY and SQLITE_BUSY_RECOVERY. Not SQLITE_BUSY_SNAPSHOT: a read still open on the same
# connection saw an older snapshot, and trying again cannot succeed.
TRIED_AGAIN = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY}

T = TypeVar("T")


class DatabaseWrapper(base.DatabaseWrapper):
    busy_timeout: float = 5.0  # sqlite3.connect()'s default

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        self.busy_timeout = params.get("timeout", self.busy_timeout)
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> sqlite3.Connection:
        """Opened with SQLite's busy handler, for the init commands; then without it."""
        connection = super().get_new_connection(conn_params)
        (journal_mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        if self.transaction_mode == "IMMEDIATE" and journal_mode == "wal":
            connection.execute("PRAGMA busy_timeout = 0")
        return connection

    def create_cursor(self, name: str | None = None) -> "CursorWrapper":
        cursor = self.connection.cursor(factory=CursorWrapper)
        cursor.busy_timeout = self.busy_timeout
        return cursor


class CursorWrapper(base.SQLiteCursorWrapper):
    busy_timeout: float

    def execute(self, query: str, params: Any = None) -> "CursorWrapper":
        run = super().execute
        if self.connection.in_transaction:
            return run(query, params)
        return while_busy(lambda: run(query, params), self.busy_timeout)

    def executemany(self, query: str, param_list: Any) -> "CursorWrapper":
        run = super().executemany
        if self.connection.in_transaction:
            return run(query, param_list)
        self.connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        try:
            return run(query, param_list)
        finally:
            self.connection.execute("PRAGMA busy_timeout = 0")


def while_busy(attempt: Callable[[], T], timeout: float) -> T:
    """attempt(), tried again while SQLite answers that the database is locked."""
    pause, deadline = FIRST_PAUSE, monotonic() + timeout
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code not in TRIED_AGAIN or monotonic() >= deadline:
                raise
        sleep(pause)
        pause = min(2 * pause, LONGEST_PAUSE)
