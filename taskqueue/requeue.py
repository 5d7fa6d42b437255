"""Putting failed tasks back on the queue, for operators (admin, status page, command)."""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_q.models import Failure, OrmQ

from taskqueue.broker import UNREADABLE, wake_pusher
from taskqueue.enqueue import TaskCall, enqueue_together
from taskqueue.models import ScheduledRetry

logger = logging.getLogger(__name__)


def requeue_failed(ids: Iterable[str]) -> int:
    """Re-queue the failed tasks with these ids; returns how many there were."""
    return requeue_failures(Failure.objects.filter(id__in=list(ids)))


def requeue_failures(failures: QuerySet[Failure]) -> int:
    """Queue each failed task again under its own name, and drop its failure record; a task
    still waiting for its next attempt is skipped, so that it never runs twice.

    Both happen in one transaction with the database broker, so a task is never queued twice
    nor lost. The tasks guard their own effects, so re-queueing one that did its work is harmless.
    """
    count = 0
    with transaction.atomic():
        forget_stale_retries()
        for failure in failures.select_for_update():
            if failure.func == UNREADABLE:
                logger.warning("%s has no task to re-queue; delete it instead", failure.name)
                continue
            if ScheduledRetry.objects.queued().filter(task_id=failure.id).exists():
                logger.warning("%s is still queued for its next attempt: skipped", failure.name)
                continue
            call = TaskCall(
                failure.func,
                tuple(failure.args or ()),
                failure.name,
                failure.group,
                failure.kwargs or {},
            )
            enqueue_together([call])
            logger.info("re-queued failed task %s (%s)", failure.name, failure.id)
            failure.delete()
            count += 1
    return count


def retry_now(task_ids: Iterable[str]) -> int:
    """Bring the next attempt of these tasks waiting to retry forward to now (the mail server
    is back: nobody should wait out a back-off of hours); returns how many were waiting."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        for retry in ScheduledRetry.objects.queued().filter(task_id__in=list(task_ids)):
            OrmQ.objects.filter(pk=retry.queue_row_id).update(lock=now)
            retry.next_attempt_at = now
            retry.save(update_fields=["next_attempt_at"])
            logger.info("next attempt of %s brought forward to now", retry.name)
            count += 1
        if count:
            wake_pusher()
    return count


def forget_stale_retries() -> int:
    """Delete the notes of a next attempt whose queue row is gone (deleted by hand, purged):
    nothing will run them, and their tasks have failed for good."""
    deleted, _ = ScheduledRetry.objects.stale().delete()
    if deleted:
        logger.warning("forgot %s scheduled retries whose queue rows are gone", deleted)
    return deleted
