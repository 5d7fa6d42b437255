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
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from time import sleep

from django.db import close_old_connections, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

QUEUE_TABLE = OrmQ._meta.db_table


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
            return sorted(claimed)
        sleep(Conf.POLL)  # an empty queue: spare the CPU, as django-q2's broker does
        return None

    def claim_statement(
        self, database: BaseDatabaseWrapper, now: datetime
    ) -> tuple[str, list[object]]:
        """Up to `bulk` tasks ready at `now`, oldest first, locked until the retry delay."""
        row_locks = " FOR UPDATE SKIP LOCKED" if database.features.has_select_for_update else ""
        sql = (
            f"UPDATE {QUEUE_TABLE} SET lock = %s WHERE id IN ("
            f"SELECT id FROM {QUEUE_TABLE} WHERE key = %s AND lock < %s"
            f" ORDER BY lock LIMIT %s{row_locks}"
            ") RETURNING id, payload"
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
