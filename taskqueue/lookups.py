"""The reads the monitor makes after every successful task, in plain SQL: compiling the same
queries through the ORM took half of the monitor's CPU while it drained a backlog (py-spy;
bench/README.md, item 25), and a success nearly never has anything to find."""

from django.db import connections, router
from django.db.models import Model
from django_q.models import Task

from taskqueue.models import ScheduledRetry

# Table names from the models; the task id is passed as a parameter.
FAILURE = f"SELECT 1 FROM {Task._meta.db_table} WHERE id = %s AND NOT success LIMIT 1"  # noqa: S608
RETRY = f"SELECT 1 FROM {ScheduledRetry._meta.db_table} WHERE task_id = %s LIMIT 1"  # noqa: S608


def failed_before(task_id: str) -> bool:
    """Whether django-q2 holds a failure of this task (an earlier attempt's)."""
    return has_row(Task, FAILURE, task_id)


def retry_scheduled(task_id: str) -> bool:
    """Whether this task waits for a next attempt (taskqueue.retries)."""
    return has_row(ScheduledRetry, RETRY, task_id)


def has_row(model: type[Model], select: str, task_id: str) -> bool:
    """On the database the ORM would read `model` from, whichever broker queues the tasks."""
    with connections[router.db_for_read(model)].cursor() as cursor:
        cursor.execute(select, [task_id])
        return cursor.fetchone() is not None
