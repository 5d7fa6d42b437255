"""On SQLite, writers wait for each other in the kernel (sqlite_backend), not in SQLite's busy
handler, and the lock they queue on never outlives the transaction that took it."""

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import ProgrammingError, connection, transaction

from accounts.models import User
from tests.support import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="SQLite only: PostgreSQL locks rows, not the file"
    ),
]


def writer_lock_path() -> Path:
    connection.ensure_connection()
    return Path(connection.writer_lock_path())


def writer_lock_is_free() -> bool:
    """Whether another open file could take the writers' lock now."""
    fd = os.open(writer_lock_path(), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing it releases a lock it took
    return True


def kernel_lock_waiters(path: Path) -> int:
    """Processes or threads blocked in flock() on `path`, from /proc/locks ('->' lines)."""
    inode = os.stat(path).st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and line.split()[-3].endswith(f":{inode}"))


@pytest.fixture
def second_writer() -> Iterator["SecondWriter"]:
    writer = SecondWriter()
    yield writer
    writer.thread.join(timeout=30)


class SecondWriter:
    """A signup written from another thread (its own connection) that never waits in SQLite's
    busy handler: its busy timeout is 0, so finding the write lock taken there fails at once."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.write)

    def start(self) -> None:
        self.thread.start()

    def write(self) -> None:
        try:
            connection.ensure_connection()
            connection.connection.execute("PRAGMA busy_timeout = 0")
            with transaction.atomic():
                User.objects.create(username="second", email="second@example.com")
        except Exception as exc:
            self.error = exc
        finally:
            connection.close()
            self.done.set()


def test_a_write_transaction_holds_the_writers_lock_until_it_commits() -> None:
    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        assert not writer_lock_is_free()
    assert writer_lock_is_free()


def test_a_write_transaction_releases_the_writers_lock_when_it_rolls_back() -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        1 / 0  # noqa: B018
    assert writer_lock_is_free()
    assert not User.objects.exists()


def test_closing_the_connection_inside_a_transaction_releases_the_writers_lock() -> None:
    with pytest.raises(ProgrammingError), transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        connection.close()
        User.objects.count()
    assert writer_lock_is_free()


def test_reading_outside_a_transaction_takes_no_lock() -> None:
    User.objects.count()
    assert writer_lock_is_free()


def test_a_second_writer_waits_in_the_kernel_and_writes_once_the_first_commits(
    second_writer: SecondWriter,
) -> None:
    path = writer_lock_path()
    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        second_writer.start()
        wait_for(
            lambda: kernel_lock_waiters(path) or second_writer.done.is_set(),
            message="the second writer to wait on the lock or finish",
        )
        assert second_writer.error is None, "it found SQLite's write lock taken"
        assert kernel_lock_waiters(path) == 1
    assert second_writer.done.wait(timeout=30)
    assert second_writer.error is None
    assert set(User.objects.values_list("username", flat=True)) == {"first", "second"}


def test_a_forked_child_leaves_its_parents_lock_alone() -> None:
    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        pid = os.fork()
        if pid == 0:  # the child lets go of what it inherited, as a connection's close() does
            connection.release_writer_lock()
            connection.close_writer_lock_file()
            os._exit(0)
        os.waitpid(pid, 0)
        assert not writer_lock_is_free()
    assert writer_lock_is_free()
