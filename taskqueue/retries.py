"""Retries that back off: a failed task's next attempt comes after a delay that doubles, with
jitter, up to Q_RETRY_BACKOFF_MAX, for Q_MAX_ATTEMPTS attempts (by default spread over more
than a day), so an outage of hours ends with every task done and nobody re-queueing anything.

django-q2 alone delivers a failed task again after the fixed Q_RETRY. Here the failed task's
queue row is hidden until its next attempt instead (the broker claims only rows whose lock has
passed), so no worker is held while it waits.
"""

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signals import post_execute_in_worker

from taskqueue.broker import wake_pusher
from taskqueue.lookups import retry_scheduled
from taskqueue.models import ScheduledRetry

logger = logging.getLogger(__name__)


def backoff(attempts_made: int) -> timedelta:
    """The wait before attempt `attempts_made + 1`: BASE, 2 BASE, 4 BASE... up to MAX, each
    stretched by up to a fifth at random so that tasks failed together do not retry together."""
    base, ceiling = settings.Q_RETRY_BACKOFF_BASE, settings.Q_RETRY_BACKOFF_MAX
    delay = min(ceiling, base * 2 ** (attempts_made - 1))
    return timedelta(seconds=delay * random.uniform(1.0, 1.2))  # noqa: S311 - not a secret


def shortest_schedule() -> list[timedelta]:
    """The waits between a task's Q_MAX_ATTEMPTS attempts, with no jitter: the least time over
    which a failing task is tried before it fails for good."""
    base, ceiling = settings.Q_RETRY_BACKOFF_BASE, settings.Q_RETRY_BACKOFF_MAX
    return [
        timedelta(seconds=min(ceiling, base * 2 ** (n - 1))) for n in range(1, Conf.MAX_ATTEMPTS)
    ]


@receiver(post_execute_in_worker)
def hide_until_next_attempt(sender: str, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """In the worker, as soon as an attempt failed: move the task's queue row out of sight until
    its next attempt, and note when that is (or that there is none)."""
    if task.get("success") or task.get("sync") or "ack_id" not in task:
        return
    if not settings.Q_BROKER_IS_DATABASE:  # Redis: the task left the queue when it was taken
        return
    try:
        hide_row(task)
    except Exception:  # django-q2 would lose the attempt's result: its fixed Q_RETRY applies
        logger.exception("could not schedule the next attempt of %s", task.get("name"))


def hide_row(task: dict[str, Any]) -> None:
    attempts_made = 1 + (
        Task.objects.filter(id=task["id"]).values_list("attempt_count", flat=True).first() or 0
    )
    if attempts_made >= Conf.MAX_ATTEMPTS:
        ScheduledRetry.objects.filter(task_id=task["id"]).delete()
        logger.error(
            "%s: attempt %s of %s failed, the last: it failed for good (re-queue it from the"
            " status page once the cause is fixed)",
            task["name"],
            attempts_made,
            Conf.MAX_ATTEMPTS,
        )
        return
    next_attempt_at = timezone.now() + backoff(attempts_made)
    logger.warning(
        "%s: attempt %s of %s failed; the next at %s",
        task["name"],
        attempts_made,
        Conf.MAX_ATTEMPTS,
        next_attempt_at.isoformat(timespec="seconds"),
    )
    OrmQ.objects.filter(pk=task["ack_id"]).update(lock=next_attempt_at)
    wake_pusher()  # it may be waiting for this row's old lock, later than the new one
    ScheduledRetry.objects.update_or_create(
        task_id=task["id"],
        defaults={
            "queue_row_id": task["ack_id"],
            "name": task["name"],
            "attempts_made": attempts_made,
            "next_attempt_at": next_attempt_at,
        },
    )


def forget_retry(task_id: str) -> None:
    """A task that succeeded waits for no next attempt (taskqueue.results)."""
    if retry_scheduled(task_id):  # a read, not a write transaction, for the tasks that never failed
        ScheduledRetry.objects.filter(task_id=task_id).delete()
