"""On SQLite a writer that finds the write lock taken tries again in short steps (sqlite_backend),
not in SQLite's busy handler, and gives up after the busy timeout as before."""

import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import pytest
from django.db import OperationalError, connection, transaction

import sqlite_backend.base
from accounts.models import User
from sqlite_backend.base import DatabaseWrapper
from tests.support import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only: its database-wide lock"),
]


class SecondWriter:
    """A signup written from another thread, on a connection of its own."""

    def __init__(
        self, *, in_transaction: bool, busy_timeout: float | None = None, username: str = "second"
    ) -> None:
        self.in_transaction = in_transaction
        self.username = username
        self.busy_timeout = busy_timeout
        self.error: Exception | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.write)

    def write(self) -> None:
        try:
            if self.busy_timeout is not None:
                connection.ensure_connection()
                connection.busy_timeout = self.busy_timeout
            with transaction.atomic() if self.in_transaction else nullcontext():
                User.objects.create(username=self.username, email=f"{self.username}@example.com")
        except Exception as exc:
            self.error = exc
        finally:
            connection.close()
            self.done.set()


@pytest.fixture
def retries_seen(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a writer found the lock taken and waits before trying again."""
    seen = threading.Event()
    sleep: Callable[[float], None] = sqlite_backend.base.sleep

    def noting_sleep(seconds: float) -> None:
        seen.set()
        sleep(seconds)

    monkeypatch.setattr(sqlite_backend.base, "sleep", noting_sleep)
    return seen


@pytest.fixture
def threads() -> Iterator[list[threading.Thread]]:
    started: list[threading.Thread] = []
    yield started
    for thread in started:
        thread.join(timeout=30)


def busy_timeout_ms(wrapper: DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return cursor.fetchone()[0]


def test_sqlites_own_busy_handler_is_off() -> None:
    assert busy_timeout_ms(connection) == 0


def test_without_immediate_transactions_sqlites_busy_handler_stays_on() -> None:
    """A DEFERRED transaction takes the write lock at its first write, inside the transaction,
    where nothing is tried again."""
    options = {**connection.settings_dict["OPTIONS"], "transaction_mode": None}
    deferred = DatabaseWrapper({**connection.settings_dict, "OPTIONS": options}, alias="deferred")
    try:
        assert busy_timeout_ms(deferred) == 1000 * connection.busy_timeout
    finally:
        deferred.close()


@pytest.mark.parametrize("in_transaction", [True, False], ids=["transaction", "autocommit"])
def test_a_second_writer_tries_again_until_the_first_commits(
    in_transaction: bool, retries_seen: threading.Event, threads: list[threading.Thread]
) -> None:
    second = SecondWriter(in_transaction=in_transaction)
    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        threads.append(second.thread)
        second.thread.start()
        wait_for(retries_seen.is_set, message="the second writer to find the lock taken")
        assert not second.done.is_set()
    assert second.done.wait(timeout=30)
    assert second.error is None
    assert set(User.objects.values_list("username", flat=True)) == {"first", "second"}


def test_executemany_outside_a_transaction_waits_in_sqlites_handler(
    retries_seen: threading.Event, threads: list[threading.Thread]
) -> None:
    """Outside a transaction each of its rows commits on its own: it is not tried again whole."""
    errors: list[Exception] = []

    def insert_two() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO throttling_counter (key, window_start, expires_at, count)"
                    " VALUES (%s, '2026-01-01', '2026-01-02', 1)",
                    [("one",), ("two",)],
                )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        threads.append(threading.Thread(target=insert_two))
        threads[0].start()
        threads[0].join(timeout=0.3)  # it is waiting for the lock, not failing at once
        assert threads[0].is_alive()
    threads[0].join(timeout=30)
    assert errors == []
    assert not retries_seen.is_set()


def test_a_writer_gives_up_after_the_busy_timeout(threads: list[threading.Thread]) -> None:
    second = SecondWriter(in_transaction=True, busy_timeout=0.2)
    with transaction.atomic():
        User.objects.create(username="first", email="first@example.com")
        threads.append(second.thread)
        second.thread.start()
        assert second.done.wait(timeout=30)
    assert isinstance(second.error, OperationalError)
    assert "database is locked" in str(second.error)
    assert list(User.objects.values_list("username", flat=True)) == ["first"]


def test_a_failing_statement_other_than_a_locked_database_is_not_tried_again(
    retries_seen: threading.Event,
) -> None:
    with pytest.raises(OperationalError, match="no such table"), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM no_such_table")
    assert not retries_seen.is_set()


def test_a_write_on_a_stale_read_snapshot_fails_at_once(
    retries_seen: threading.Event, threads: list[threading.Thread]
) -> None:
    """A read left open on the connection holds an older snapshot: waiting cannot help."""
    User.objects.create(username="first", email="first@example.com")
    User.objects.create(username="second", email="second@example.com")
    reading = connection.connection.execute("SELECT username FROM accounts_user")
    reading.fetchone()  # the statement stays open, and with it the snapshot
    third = SecondWriter(in_transaction=False, username="third")
    threads.append(third.thread)
    third.thread.start()
    assert third.done.wait(timeout=30)  # another connection committed since the snapshot
    with pytest.raises(OperationalError, match="database is locked"):
        User.objects.create(username="fourth", email="fourth@example.com")
    reading.close()
    assert not retries_seen.is_set()
