"""Enqueueing tasks so that they commit, or roll back, with the work that asked for them."""

import pydoc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.signals import pre_enqueue
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from taskqueue.broker import DatabaseBroker

TaskFunction = Callable[..., object]


@cache
def task_path(func: TaskFunction) -> str:
    """The dotted path a worker imports `func` by; refused at once if it cannot be imported
    back (a lambda, a nested function), instead of failing in a worker later."""
    path = f"{func.__module__}.{func.__qualname__}"
    if pydoc.locate(path) is not func:
        raise ValueError(f"{func!r} cannot be queued: a worker could not import {path}")
    return path


@dataclass(frozen=True)
class TaskCall:
    """One task to queue: the function (or its dotted path), its arguments (ids and plain
    values), its name and group.

    keep_success=False: django-q2 does not save a successful result of this task, for tasks
    that record their own effect (an EmailDelivery, an AuditRecord) and run for every signup
    (bench/README.md, item 13). Failures are saved as always; taskqueue.results settles one
    whose retry then succeeds.
    """

    func: TaskFunction | str
    args: tuple[Any, ...]
    name: str
    group: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    keep_success: bool = True

    @property
    def path(self) -> str:
        """A path is taken as it is: a failure being re-queued names its task by its path."""
        return self.func if isinstance(self.func, str) else task_path(self.func)


def enqueue(
    func: TaskFunction, *args: Any, task_name: str, group: str | None, **kwargs: Any
) -> None:
    enqueue_together([TaskCall(func, args, task_name, group, kwargs)])


def enqueue_together(tasks: Sequence[TaskCall]) -> None:
    """Queue tasks as part of the current transaction.

    With the database broker (the default) the queue rows are written in the caller's
    transaction, in one statement: atomic with it. With the Redis broker they are sent after the
    commit (on_commit), so a rolled back transaction queues nothing; a crash between the commit
    and the send loses them. In django-q2's sync mode (tests) each task runs at once instead.
    """
    if Conf.SYNC:
        for task in tasks:
            async_task(task.path, *task.args, **async_task_options(task), **task.kwargs)
        return
    packages = [signed_package(task) for task in tasks]
    broker = process_broker()
    if isinstance(broker, DatabaseBroker):
        broker.enqueue_many(packages)
    else:
        for package in packages:
            transaction.on_commit(partial(broker.enqueue, package))


def schedule_once(func: TaskFunction, *args: Any, name: str, at: datetime) -> None:
    """Run `func` once at `at` (or within django-q2's scheduler's 30 s after it)."""
    Schedule.objects.create(
        name=name,
        func=task_path(func),
        args=repr(args),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=at,
    )


def signed_package(task: TaskCall) -> str:
    """The package django-q2's async_task() builds for the same call (a contract test compares
    them), without its per-call costs: a humanised name nobody reads and a broker per task."""
    package = {
        "id": uuid.uuid4().hex,
        "name": task.name,
        "func": task.path,
        "args": task.args,
        "group": task.group,
        "kwargs": task.kwargs,
        "started": timezone.now(),
        **result_options(task),
    }
    pre_enqueue.send(sender="django_q", task=package)
    return SignedPackage.dumps(package)


def async_task_options(task: TaskCall) -> dict[str, Any]:
    return {"task_name": task.name, "group": task.group, **result_options(task)}


def result_options(task: TaskCall) -> dict[str, Any]:
    return {} if task.keep_success else {"save": False}


@cache
def process_broker() -> Broker:
    """One broker for the process (for Redis: one client and connection pool)."""
    return get_broker()
