"""Waking the pusher when tasks are committed, instead of polling the queue table on a timer.

- PostgreSQL: the INSERT that queues tasks also calls pg_notify() (taskqueue.broker), which the
  server delivers at commit and never for a rolled-back transaction; the pusher LISTENs on a
  connection of its own, as procrastinate's workers do.
- SQLite has no LISTEN. The web process and the workers share one file, so one host: after the
  commit (on_commit) the enqueuing process sends an empty datagram to each cluster's unix socket
  in VAR_DIR/queue-wakeup/. Idle, nothing is sent and nothing is read.

Either way the pusher still polls every Q_POLL seconds and when the next hidden task is due (a
retry's back-off, a crashed worker's claim), so a lost wake-up delays a task, never loses it.
Q_WAKE_ON_COMMIT=False turns the wake-up off (e.g. PostgreSQL behind a pooler in transaction
mode, where LISTEN does not work): the pusher then polls every Q_POLL seconds only.
"""

import contextlib
import functools
import logging
import os
import selectors
import socket
from pathlib import Path
from typing import Any, Protocol

import psycopg
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

CHANNEL = "taskqueue_wakeup"


def wake_on_commit() -> bool:
    return getattr(settings, "Q_WAKE_ON_COMMIT", True)


def socket_directory() -> Path:
    return Path(settings.VAR_DIR) / "queue-wakeup"


@functools.cache
def socket_directory_path() -> str:
    """socket_directory() as text, made once: it is looked at on every commit that queues."""
    return str(socket_directory())


class Listener(Protocol):
    def listen(self) -> None:
        """Start listening (idempotent); before the claim that may come back empty."""

    def wait(self, timeout: float) -> bool:
        """Up to `timeout` seconds for a wake-up; True if one came (all pending are read)."""

    def close(self) -> None: ...


class PostgresListener:
    """LISTEN on a connection of the pusher's own, in autocommit."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.connection: psycopg.Connection[Any] | None = None

    def listen(self) -> None:
        if self.connection is not None and not self.connection.closed:
            return
        self.connection = psycopg.connect(**{**self.params, "autocommit": True})
        self.connection.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        assert self.connection is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.connection.fileno(), selectors.EVENT_READ)
            if not selector.select(timeout):
                return False
        # Read all that arrived (a timeout of 0 polls once), so that a burst is one claim.
        for _ in self.connection.notifies(timeout=0):
            pass
        return True

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(psycopg.Error):
                self.connection.close()
            self.connection = None


class SocketListener:
    """A unix datagram socket named after the pusher's process in VAR_DIR/queue-wakeup/."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}.sock"
        self.socket: socket.socket | None = None

    def listen(self) -> None:
        if self.socket is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # left by a killed process that had our pid
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.socket = sock

    def wait(self, timeout: float) -> bool:
        assert self.socket is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            if not selector.select(timeout):
                return False
        with contextlib.suppress(BlockingIOError):
            while True:
                self.socket.recv(16)
        return True

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
            self.path.unlink(missing_ok=True)


def listener_for(database: BaseDatabaseWrapper) -> Listener:
    if database.vendor == "postgresql":
        return PostgresListener(database.get_connection_params())
    return SocketListener(socket_directory())


_sender: socket.socket | None = None
# The wake-up directory's path, its modification time and its sockets when last listed.
_listed: tuple[str, int, list[str]] | None = None


def wake_local_listeners() -> None:
    """Send an empty datagram to every cluster listening on this host (SQLite). A full socket
    buffer means wake-ups are already waiting; a socket nobody reads is left by a dead pusher.
    The directory is listed again only when it changed (one stat() per commit otherwise)."""
    global _sender, _listed
    directory = _listed[0] if _listed else socket_directory_path()
    try:
        changed = os.stat(directory).st_mtime_ns
    except FileNotFoundError:
        return
    if _listed is None or _listed[1] != changed:
        _listed = (directory, changed, [os.path.join(directory, n) for n in os.listdir(directory)])
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    for path in _listed[2]:
        try:
            _sender.sendto(b"", path)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        except OSError as exc:  # its buffer is full (it has wake-ups waiting)
            logger.debug("no wake-up sent to %s: %s", path, exc)
