"""Enqueueing tasks so that they commit, or roll back, with the work that asked for them."""

from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task


def enqueue(func: str, *args: Any, **options: Any) -> None:
    """Queue a task as part of the current transaction.

    With the ORM broker (the default) the queue row is written in the caller's transaction:
    atomic with it. With the Redis broker it is sent after the commit (on_commit), so a rolled
    back transaction queues nothing; a crash between the commit and the send loses the task.
    """
    if settings.Q_BROKER_IS_DATABASE:
        async_task(func, *args, **options)
    else:
        transaction.on_commit(partial(async_task, func, *args, **options))
