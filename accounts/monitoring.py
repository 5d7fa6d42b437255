"""What operators look at: health, readiness, and the state of the task queue."""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Min, Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, OrmQ, Task
from django_q.status import Stat

from accounts.models import AuditRecord, EmailDelivery


@dataclass
class Check:
    ok: bool
    detail: str


def readiness() -> dict[str, Check]:
    """Each check is independent: one failing does not hide the others."""
    checks: dict[str, Check] = {}
    for name, check in [
        ("database", check_database),
        ("migrations", check_migrations),
        ("queue", check_queue_age),
        ("workers", check_workers),
    ]:
        try:
            checks[name] = check()
        except Exception as exc:  # a readiness probe reports failures, it does not raise them
            checks[name] = Check(False, f"{type(exc).__name__}: {exc}")
    return checks


def readiness_report() -> tuple[bool, dict[str, Any]]:
    checks = readiness()
    ready = all(check.ok for check in checks.values())
    report = {
        "status": "ok" if ready else "fail",
        "checks": {k: asdict(v) for k, v in checks.items()},
    }
    return ready, report


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check(True, connection.vendor)


def check_migrations() -> Check:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return Check(False, f"{len(pending)} migration(s) not applied")
    return Check(True, "all applied")


def check_queue_age() -> Check:
    age = oldest_queued_age()
    limit = settings.READY_MAX_QUEUE_AGE
    if age is None:
        return Check(True, "queue empty")
    if age > limit:
        return Check(False, f"oldest queued task waits {age:.0f}s (limit {limit}s)")
    return Check(True, f"oldest queued task waits {age:.0f}s")


def check_workers() -> Check:
    clusters = Stat.get_all(get_broker())
    if not clusters:
        return Check(False, "no worker cluster reported in the last few seconds")
    return Check(True, f"{len(clusters)} cluster(s) reporting")


def oldest_queued_age() -> float | None:
    """Seconds the oldest task ready to run has waited (ORM broker; None for others or empty)."""
    if not settings.Q_BROKER_IS_DATABASE:
        return None
    now = timezone.now()
    oldest = OrmQ.objects.filter(lock__lte=now).aggregate(oldest=Min("lock"))["oldest"]
    return (now - oldest).total_seconds() if oldest else None


# The signup tasks' successes are not saved by django-q2 (TaskCall.keep_success): their effects,
# one row each, are counted instead.
SUCCESS_EFFECTS: dict[str, Callable[[datetime], int]] = {
    "accounts.tasks.send_welcome_email": lambda since: EmailDelivery.objects.filter(
        kind=EmailDelivery.Kind.WELCOME, sent_at__gte=since
    ).count(),
    "accounts.tasks.record_signup": lambda since: AuditRecord.objects.filter(
        action=AuditRecord.Action.SIGNUP, recorded_at__gte=since
    ).count(),
}


def results_since(since: datetime) -> list[dict[str, Any]]:
    """Per task function: how many runs succeeded and failed since `since`."""
    saved = (
        Task.objects.filter(stopped__gte=since)
        .values("func")
        .annotate(
            succeeded=Count("id", filter=Q(success=True)),
            failed=Count("id", filter=Q(success=False)),
        )
    )
    rows = {row["func"]: row for row in saved}
    for func, count_effects in SUCCESS_EFFECTS.items():
        row = rows.setdefault(func, {"func": func, "succeeded": 0, "failed": 0})
        row["succeeded"] = count_effects(since)
    return sorted(
        (row for row in rows.values() if row["succeeded"] or row["failed"]),
        key=lambda row: row["func"],
    )


def queue_status() -> dict[str, Any]:
    """Queue depth and age, the last hour's results per task, recent failures, clusters."""
    broker = get_broker()
    hour_ago = timezone.now() - timedelta(hours=1)
    return {
        "queue": {
            "depth": broker.queue_size(),
            "in_progress": broker.lock_size() if settings.Q_BROKER_IS_DATABASE else None,
            "oldest_age_seconds": oldest_queued_age(),
        },
        "last_hour": results_since(hour_ago),
        "recent_failures": [
            {
                "id": failure.id,
                "name": failure.name,
                "func": failure.func,
                "attempts": failure.attempt_count,
                "stopped": failure.stopped.isoformat(),
                "error": str(failure.result)[:300],
            }
            for failure in Failure.objects.order_by("-stopped")[:20]
        ],
        "clusters": [
            {
                "id": str(stat.cluster_id),
                "host": stat.host,
                "status": str(stat.status),
                "workers": len(stat.workers),
                "reincarnations": stat.reincarnations,
                "started": stat.tob.isoformat() if stat.tob else None,
                "uptime_seconds": int(stat.uptime()),
            }
            for stat in Stat.get_all(broker)
        ],
    }
