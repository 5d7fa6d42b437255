"""django-q2's ORM broker with its busiest statements written out, one SQL statement each.

The queue is the django_q_ormq table, as with django-q2's own ORM broker, and every other
operation is inherited. What changes (measured in bench/README.md):
- enqueue: one INSERT for all the tasks a transaction queues (enqueue_many: a signup queues two),
  instead of one model save each, which compiles the same INSERT on every call.
- dequeue: one UPDATE … RETURNING claims up to `bulk` tasks, instead of a SELECT followed by one
  UPDATE per task. On PostgreSQL the rows are taken FOR UPDATE SKIP LOCKED, so clusters sharing
  the queue pass over each other's claims instead of racing for them; SQLite runs one writer at
  a time, so there the statement is atomic without row locks.
- acknowledge: one DELETE, instead of a queryset delete() and its deletion collector.
- wake-up: the enqueue wakes the pusher when it commits (pg_notify() in the same INSERT on
  PostgreSQL, a datagram after the commit on SQLite; taskqueue.wakeup), and the pusher waits for
  that instead of sleeping Q_POLL between polls of an empty queue, which it keeps as a fallback.
- a row that cannot be read (not UTF-8, a bad signature, not unpicklable) is taken out of the
  queue when it is claimed and recorded as a failed task, instead of stopping the pusher, which
  would claim it again after every retry delay.
"""

import logging
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from time import monotonic, sleep

from django.db import close_old_connections, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from taskqueue import wakeup

logger = logging.getLogger(__name__)

QUEUE_TABLE = OrmQ._meta.db_table
UNREADABLE = "(an unreadable queue row)"
# The longest a pusher waits in one dequeue() before it returns to django-q2's loop, which
# checks there whether the cluster is stopping (its Redis broker blocks for 1 s too).
LONGEST_WAIT = 1.0
# Seconds between polls while the wake-up cannot be listened for (a listener that failed).
DEGRADED_POLL = 1.0

# This process's listener (the pusher's), made on its first dequeue().
_listener: tuple[int, wakeup.Listener] | None = None


class DatabaseBroker(ORM):
    def enqueue(self, task: str) -> int:
        return self.insert([task])

    def enqueue_many(self, tasks: Sequence[str]) -> None:
        self.insert(tasks)

    def insert(self, tasks: Sequence[str]) -> int:
        """Write the tasks in one statement; returns the id of the last one."""
        database = self.database()
        lock = database_time(database, timezone.now())
        rows = ", ".join(["(%s, %s, %s)"] * len(tasks))
        key = self.list_key or Conf.CLUSTER_NAME
        params = [value for task in tasks for value in (key, task, lock)]
        insert = f"INSERT INTO {QUEUE_TABLE} (key, payload, lock) VALUES {rows}"
        with database.cursor() as cursor:
            if database.vendor == "postgresql" and wakeup.wake_on_commit():
                # One round trip; the server holds the notification until the commit.
                cursor.execute(
                    f"WITH queued AS ({insert} RETURNING id)"
                    " SELECT (SELECT max(id) FROM queued), pg_notify(%s, '')",
                    [*params, wakeup.CHANNEL],
                )
                return cursor.fetchone()[0]
            if database.features.can_return_columns_from_insert:
                cursor.execute(f"{insert} RETURNING id", params)
                last_id = cursor.fetchall()[-1][0]
            else:
                cursor.execute(insert, params)
                last_id = cursor.lastrowid
        if database.vendor == "sqlite" and wakeup.wake_on_commit():
            transaction.on_commit(wakeup.wake_local_listeners, using=Conf.ORM)
        return last_id

    # When the last claim came back empty: the next poll is due at this monotonic() time.
    idle_until: float | None = None

    def dequeue(self) -> list[tuple[int, str]] | None:
        """Claim ready tasks. After an empty claim, wait for a wake-up, the next hidden task
        falling due, or Q_POLL seconds, whichever comes first, in waits of at most
        LONGEST_WAIT (returning None in between, for django-q2's loop)."""
        database = self.database()
        if not database.features.can_return_columns_from_insert:  # SQLite before 3.35
            return super().dequeue()
        listener = self.listener(database)
        if self.idle_until is not None:
            if listener is None:
                sleep(min(Conf.POLL, DEGRADED_POLL) if wakeup.wake_on_commit() else Conf.POLL)
            elif not self.wait(listener) and monotonic() < self.idle_until:
                return None
        claimed = self.claim(database)
        if claimed:
            self.idle_until = None
            return claimed
        self.idle_until = monotonic() + self.seconds_to_next_poll(database)
        return None

    def claim(self, database: BaseDatabaseWrapper) -> list[tuple[int, str]] | None:
        with database.cursor() as cursor:
            cursor.execute(*self.claim_statement(database, timezone.now()))
            claimed = cursor.fetchall()
        readable = [
            (row_id, text) for row_id, payload in claimed if (text := self.read(row_id, payload))
        ]
        return sorted(readable) or None

    def seconds_to_next_poll(self, database: BaseDatabaseWrapper) -> float:
        """Q_POLL, or less if a hidden task falls due sooner."""
        with database.cursor() as cursor:
            cursor.execute(f"SELECT min(lock) FROM {QUEUE_TABLE} WHERE key = %s", [self.list_key])
            (next_lock,) = cursor.fetchone()
        if next_lock is None:
            return Conf.POLL
        if isinstance(next_lock, str):  # SQLite hands back text
            next_lock = database.ops.convert_datetimefield_value(next_lock, None, database)
        if timezone.is_naive(next_lock):
            next_lock = timezone.make_aware(next_lock, UTC)
        due_in = (next_lock - timezone.now()).total_seconds()
        return max(0.0, min(Conf.POLL, due_in))

    def wait(self, listener: wakeup.Listener) -> bool:
        """Wait for a wake-up until the next poll is due, LONGEST_WAIT at most."""
        assert self.idle_until is not None
        timeout = max(0.0, min(LONGEST_WAIT, self.idle_until - monotonic()))
        try:
            return listener.wait(timeout)
        except Exception:
            logger.exception("waiting for a queue wake-up failed; polling until it listens again")
            stop_listening()
            return True  # claim now: a wake-up may have been missed

    @staticmethod
    def listener(database: BaseDatabaseWrapper) -> wakeup.Listener | None:
        """This process's listener, listening; None when the wake-up is off or failed."""
        global _listener
        if not wakeup.wake_on_commit():
            return None
        if _listener is None or _listener[0] != os.getpid():  # none yet, or a forked copy
            _listener = (os.getpid(), wakeup.listener_for(database))
        try:
            _listener[1].listen()
        except Exception:
            logger.exception("cannot listen for queue wake-ups; polling every %s s", DEGRADED_POLL)
            stop_listening()
            return None
        return _listener[1]

    def read(self, row_id: int, payload: bytes | str) -> str | None:
        """The payload, if django-q2's pusher will be able to unpack it; otherwise None, and the
        row is taken out of the queue and recorded among the failed tasks."""
        try:
            text = bytes(payload).decode() if isinstance(payload, bytes | memoryview) else payload
            SignedPackage.loads(text)
        except Exception as exc:  # whatever stops the pusher from unpacking it
            self.quarantine(row_id, payload, exc)
            return None
        return text

    def quarantine(self, row_id: int, payload: bytes | str, reason: Exception) -> None:
        logger.error(
            "queue row %s cannot be read and is taken out of the queue: %r", row_id, reason
        )
        now = timezone.now()
        with transaction.atomic(using=Conf.ORM):
            Failure.objects.using(Conf.ORM).create(
                id=uuid.uuid4().hex,
                name=f"unreadable-queue-row-{row_id}",
                func=UNREADABLE,
                args=(),
                kwargs={},
                started=now,
                stopped=now,
                result=f"{type(reason).__name__}: {reason}; payload starts {payload[:80]!r}",
                success=False,
                attempt_count=1,
            )
            self.delete(row_id)

    def claim_statement(
        self, database: BaseDatabaseWrapper, now: datetime
    ) -> tuple[str, list[object]]:
        """Up to `bulk` tasks ready at `now`, oldest first, locked until the retry delay."""
        row_locks = " FOR UPDATE SKIP LOCKED" if database.features.has_select_for_update else ""
        # SQLite hands back text it cannot decode as an error, row unclaimed: read bytes there.
        payload = "CAST(payload AS BLOB)" if database.vendor == "sqlite" else "payload"
        sql = (
            f"UPDATE {QUEUE_TABLE} SET lock = %s WHERE id IN ("
            f"SELECT id FROM {QUEUE_TABLE} WHERE key = %s AND lock < %s"
            f" ORDER BY lock LIMIT %s{row_locks}"
            f") RETURNING id, {payload}"
        )
        retry_at = now + timedelta(seconds=Conf.RETRY)
        params = [
            database_time(database, retry_at),
            self.list_key,
            database_time(database, now),
            Conf.BULK,
        ]
        return sql, params

    def delete(self, task_id: int) -> None:
        with self.database().cursor() as cursor:
            cursor.execute(f"DELETE FROM {QUEUE_TABLE} WHERE id = %s", [task_id])

    @staticmethod
    def database() -> BaseDatabaseWrapper:
        """The queue's connection; outside a transaction, stale connections are closed first,
        as django-q2's broker does (a pusher runs for days)."""
        if transaction.get_autocommit(using=Conf.ORM):
            close_old_connections()
        return connections[Conf.ORM]


def stop_listening() -> None:
    """Close this process's listener, if it has one (it is made again when needed)."""
    global _listener
    if _listener is not None and _listener[0] == os.getpid():
        _listener[1].close()
    _listener = None


def wake_pusher() -> None:
    """Wake the pushers now (or, in a transaction, at its commit): for a change to a queue
    row's lock that makes it due sooner than the pushers may think (a retry's back-off)."""
    if not wakeup.wake_on_commit():
        return
    database = connections[Conf.ORM]
    if database.vendor == "postgresql":
        with database.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [wakeup.CHANNEL])
    else:
        transaction.on_commit(wakeup.wake_local_listeners, using=Conf.ORM)


def database_time(database: BaseDatabaseWrapper, moment: datetime) -> object:
    return database.ops.adapt_datetimefield_value(moment)
