"""Enqueueing tasks so that they commit, or roll back, with the work that asked for them."""

from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task


def enqueue(func: str, *args: Any, **options: Any) -> None:
    """Queue a task as part of the current transaction.

    With the ORM broker (the default) the queue row is written in the caller's transaction:
    atomic with it. With the Redis broker it is sent after the commit (on_commit), so a rolled
    back transaction queues nothing; a crash between the commit and the send loses the task.
    """
    options["broker"] = process_broker()
    if settings.Q_BROKER_IS_DATABASE:
        async_task(func, *args, **options)
    else:
        transaction.on_commit(partial(async_task, func, *args, **options))


@cache
def process_broker() -> Broker:
    """One broker for the process: async_task would otherwise build a new one for every task
    (for Redis, a new client and connection pool)."""
    return get_broker()
