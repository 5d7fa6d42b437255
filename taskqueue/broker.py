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
- a row that cannot be read (not UTF-8, a bad signature, not unpicklable) is taken out of the
  queue when it is claimed and recorded as a failed task, instead of stopping the pusher, which
  would claim it again after every retry delay.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from time import sleep

from django.db import close_old_connections, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

logger = logging.getLogger(__name__)

QUEUE_TABLE = OrmQ._meta.db_table
UNREADABLE = "(an unreadable queue row)"


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
        returning = " RETURNING id" if database.features.can_return_columns_from_insert else ""
        with database.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {QUEUE_TABLE} (key, payload, lock) VALUES {rows}{returning}", params
            )
            return cursor.fetchall()[-1][0] if returning else cursor.lastrowid

    def dequeue(self) -> list[tuple[int, str]] | None:
        database = self.database()
        if not database.features.can_return_columns_from_insert:  # SQLite before 3.35
            return super().dequeue()
        with database.cursor() as cursor:
            cursor.execute(*self.claim_statement(database, timezone.now()))
            claimed = cursor.fetchall()
        if claimed:
            readable = [
                (row_id, text)
                for row_id, payload in claimed
                if (text := self.read(row_id, payload))
            ]
            return sorted(readable) or None
        sleep(Conf.POLL)  # an empty queue: spare the CPU, as django-q2's broker does
        return None

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


def database_time(database: BaseDatabaseWrapper, moment: datetime) -> object:
    return database.ops.adapt_datetimefield_value(moment)
