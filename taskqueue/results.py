"""django-q2's record of task results: failures settled when a retry succeeds, old ones pruned."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone
from django_q.models import Success, Task
from django_q.signals import post_execute

from taskqueue.enqueue import process_broker
from taskqueue.lookups import failed_before
from taskqueue.models import FailedAttempt, QueueSample
from taskqueue.requeue import forget_stale_retries
from taskqueue.retries import forget_retry
from taskqueue.status import error_summary, oldest_queued_age

logger = logging.getLogger(__name__)

# How long the status charts' history is kept: queue samples and failed attempts.
HISTORY_KEPT = timedelta(days=2)


@receiver(post_execute)
def record_failed_attempt(sender: str, task: dict[str, Any], **kwargs: Any) -> None:
    """Runs in the monitor after each result; writes only for a failure. django-q2 catches
    nothing around its signals: an error here would end the monitor, so it is logged."""
    if task["success"]:
        return
    try:
        FailedAttempt.objects.create(
            task_id=task["id"],
            name=task.get("name") or "",
            func=str(task.get("func") or ""),
            failed_at=task.get("stopped") or timezone.now(),
            error=error_summary(task.get("result")),
        )
    except Exception:
        logger.exception("could not record the failed attempt of %s", task.get("name"))


@receiver(post_execute)
def settle_after_success(sender: str, task: dict[str, Any], **kwargs: Any) -> None:
    """Runs in the monitor after each result. Only a task that failed before has anything to
    settle, and one read tells, so the first success of a task (nearly every one) writes
    nothing: its failure record turned into this success and its next attempt forgotten.

    django-q2 does the first for the tasks whose results it saves, before this runs; for the
    others (TaskCall.keep_success) this does it, so that a task that failed once and then
    succeeded is not listed among the failures (nor re-queued from there)."""
    if not task["success"]:
        return
    if task.get("save", True):
        forget_retry(task["id"])
        return
    if not failed_before(task["id"]):
        return
    Task.objects.filter(id=task["id"], success=False).update(
        success=True,
        stopped=task["stopped"],
        result=task["result"],
        attempt_count=F("attempt_count") + 1,
    )
    forget_retry(task["id"])


def prune_task_results() -> str:
    """Delete successful task results older than TASK_RESULT_RETENTION_HOURS, queue samples
    and failed attempts older than two days and notes of retries whose queue row is gone; keep
    failures.

    Scheduled hourly (`prune-task-results`), instead of django-q2's save_limit, which prunes on
    every saved result under a lock on all results and so throttles the whole cluster.
    """
    cutoff = timezone.now() - timedelta(hours=settings.TASK_RESULT_RETENTION_HOURS)
    deleted, _ = Success.objects.filter(stopped__lt=cutoff).delete()
    QueueSample.objects.filter(taken_at__lt=timezone.now() - HISTORY_KEPT).delete()
    FailedAttempt.objects.filter(failed_at__lt=timezone.now() - HISTORY_KEPT).delete()
    forget_stale_retries()
    logger.info("pruned %s task results older than %s", deleted, cutoff.isoformat())
    return f"pruned {deleted}"


def sample_queue_unless_sampled() -> None:
    """For the status page, when no sample is a minute old: the schedule runs in the workers,
    so with none running the charts would have nothing to show of the queue growing."""
    if not QueueSample.objects.filter(taken_at__gt=timezone.now() - timedelta(minutes=1)).exists():
        sample_queue()


def sample_queue() -> str:
    """Scheduled each minute: the figures the status charts draw over time."""
    depth = process_broker().queue_size()
    QueueSample.objects.create(
        taken_at=timezone.now(), depth=depth, oldest_age_seconds=oldest_queued_age() or 0
    )
    return f"{depth} queued"
