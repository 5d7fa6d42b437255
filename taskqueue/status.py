"""The state of the task queue, read from django-q2's tables and its cluster reports."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Task
from django_q.status import Stat

from taskqueue.enqueue import TaskFunction, process_broker, task_path
from taskqueue.models import FailedAttempt, QueueSample, ScheduledRetry

SuccessCounter = Callable[[datetime], int]

# Tasks whose successes django-q2 does not save (TaskCall.keep_success): their effects, one row
# each, are counted instead.
success_counters: dict[str, SuccessCounter] = {}


def count_successes_by_effect(func: TaskFunction, counter: SuccessCounter) -> None:
    """`counter(since)` tells how many runs of `func` succeeded since then."""
    success_counters[task_path(func)] = counter


# What people call each task, registered by the apps that own them.
task_labels: dict[str, str] = {}


def label_task(func: TaskFunction, label: str) -> None:
    task_labels[task_path(func)] = label


def task_label(path: str) -> str:
    """ "Welcome email" for accounts.tasks.send_welcome_email; a readable guess otherwise."""
    label = task_labels.get(path)
    return str(label) if label else path.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def error_summary(result: object) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line for line in str(result).strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def oldest_queued_age() -> float | None:
    """Seconds the oldest task ready to run has waited (database broker; None for others or
    an empty queue)."""
    if not settings.Q_BROKER_IS_DATABASE:
        return None
    now = timezone.now()
    oldest = OrmQ.objects.filter(lock__lte=now).aggregate(oldest=Min("lock"))["oldest"]
    return (now - oldest).total_seconds() if oldest else None


def clusters_reporting() -> list[Stat]:
    """The qcluster processes that reported in the last few seconds."""
    return Stat.get_all(process_broker())


def results_since(since: datetime) -> list[dict[str, Any]]:
    """Per task function: how many tasks succeeded, and how many attempts failed, since
    `since` (a task that failed twice, then succeeded, counts 1 and 2)."""
    saved = (
        Task.objects.filter(stopped__gte=since, success=True)
        .values("func")
        .annotate(succeeded=Count("id"))
    )
    rows = {row["func"]: {**row, "failed": 0} for row in saved}
    failed = (
        FailedAttempt.objects.filter(failed_at__gte=since).values("func").annotate(n=Count("id"))
    )
    for row in failed:
        rows.setdefault(row["func"], {"func": row["func"], "succeeded": 0})["failed"] = row["n"]
    for func, count_effects in success_counters.items():
        row = rows.setdefault(func, {"func": func, "succeeded": 0, "failed": 0})
        row["succeeded"] = count_effects(since)
    for row in rows.values():
        row["task"] = task_label(row["func"])
    return sorted(
        (row for row in rows.values() if row["succeeded"] or row["failed"]),
        key=lambda row: row["task"],
    )


def failed_for_good() -> QuerySet[Failure]:
    """Failures with no attempt left: what an operator may re-queue."""
    return Failure.objects.exclude(id__in=ScheduledRetry.objects.queued().values("task_id"))


def waiting_to_retry_by_task() -> dict[str, int]:
    """How many tasks of each function wait for their next attempt."""
    rows = Failure.objects.filter(id__in=ScheduledRetry.objects.queued().values("task_id"))
    return dict(rows.values("func").annotate(count=Count("id")).values_list("func", "count"))


def failed_for_good_by_task() -> dict[str, int]:
    rows = failed_for_good().values("func").annotate(count=Count("id"))
    return dict(rows.values_list("func", "count"))


def task_history(names: list[str]) -> list[dict[str, Any]]:
    """What became of the tasks with these names: each result django-q2 kept (a success, or a
    failure with its attempts) and, for one waiting to retry, when its next attempt comes."""
    retries = dict(
        ScheduledRetry.objects.queued()
        .filter(name__in=names)
        .values_list("task_id", "next_attempt_at")
    )
    return [
        {
            "name": result.name,
            "task": task_label(result.func),
            "succeeded": result.success,
            "attempts": result.attempt_count,
            "started": result.started,
            "stopped": result.stopped,
            "error": "" if result.success else error_summary(result.result),
            "next_attempt": retries.get(result.id),
        }
        for result in Task.objects.filter(name__in=names).order_by("started")
    ]


def failed_attempts(names: list[str]) -> QuerySet[FailedAttempt]:
    """Each failed attempt of the tasks with these names, each when it failed (kept two days)."""
    return FailedAttempt.objects.filter(name__in=names)


def failure_times(since: datetime) -> list[datetime]:
    """When each failed attempt happened, those of tasks that later succeeded too."""
    return list(
        FailedAttempt.objects.filter(failed_at__gte=since).values_list("failed_at", flat=True)
    )


def queue_samples(since: datetime) -> list[tuple[datetime, int, float]]:
    """The queue's depth and oldest age, sampled each minute (taskqueue.results.sample_queue)."""
    rows = QueueSample.objects.filter(taken_at__gte=since)
    return list(rows.values_list("taken_at", "depth", "oldest_age_seconds"))


def retry_summary() -> str:
    """How many tasks wait to retry and how many failed for good, and since when."""
    retrying = Failure.objects.filter(
        id__in=ScheduledRetry.objects.queued().values("task_id")
    ).aggregate(count=Count("id"), since=Min("started"))
    failed = failed_for_good().aggregate(count=Count("id"), since=Min("stopped"))
    parts = [f"{retrying['count']} waiting to retry", f"{failed['count']} failed for good"]
    for index, since in enumerate((retrying["since"], failed["since"])):
        if since:
            parts[index] += f" (the first since {since:%Y-%m-%d %H:%M:%S} UTC)"
    return ", ".join(parts)


def queue_status() -> dict[str, Any]:
    """Queue depth and age, tasks waiting for a retry, the last hour's results per task, the
    tasks that failed for good, clusters."""
    broker = process_broker()
    hour_ago = timezone.now() - timedelta(hours=1)
    retrying = ScheduledRetry.objects.queued()
    shown = list(retrying.values_list("task_id", flat=True)[:20])
    failures = {failure.id: failure for failure in Failure.objects.filter(id__in=shown)}
    now = timezone.now()
    return {
        "as_of": now,
        "queue": {
            "depth": broker.queue_size(),
            "in_progress": (
                max(0, broker.lock_size() - retrying.filter(next_attempt_at__gt=now).count())
                if settings.Q_BROKER_IS_DATABASE
                else None
            ),
            "retrying": retrying.count(),
            "failed": failed_for_good().count(),
            "oldest_age_seconds": oldest_queued_age(),
        },
        "last_hour": results_since(hour_ago),
        "retrying": [
            {
                "id": retry.task_id,
                "name": retry.name,
                "task": task_label(failures[retry.task_id].func)
                if retry.task_id in failures
                else "",
                "attempts": retry.attempts_made,
                "max_attempts": attempts_in_all(retry.attempts_made),
                "next_attempt": retry.next_attempt_at,
                "error": str(getattr(failures.get(retry.task_id), "result", ""))[:5000],
                "error_summary": error_summary(getattr(failures.get(retry.task_id), "result", "")),
            }
            for retry in retrying[:20]
        ],
        "recent_failures": [
            {
                "id": failure.id,
                "name": failure.name,
                "func": failure.func,
                "task": task_label(failure.func),
                "attempts": failure.attempt_count,
                "stopped": failure.stopped,
                "error": str(failure.result)[:5000],
                "error_summary": error_summary(failure.result),
            }
            for failure in failed_for_good().order_by("-stopped")[:20]
        ],
        "clusters": [
            {
                "id": str(stat.cluster_id),
                "host": stat.host,
                "status": str(stat.status),
                "workers": len(stat.workers),
                "reincarnations": stat.reincarnations,
                "started": stat.tob,
                "uptime_seconds": int(stat.uptime()),
            }
            for stat in clusters_reporting()
        ],
    }


def attempts_in_all(attempts_made: int) -> int:
    """Q_MAX_ATTEMPTS, or, for a task that made more before Q_MAX_ATTEMPTS was lowered, the one
    attempt it still has: a next attempt was scheduled, and the one after it would not be."""
    return max(Conf.MAX_ATTEMPTS, attempts_made + 1)
