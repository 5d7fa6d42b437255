"""/readyz: can this deployment take signups and get their work done?"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.executor import MigrationExecutor

from taskqueue.status import clusters_reporting, oldest_queued_age, retry_summary

logger = logging.getLogger(__name__)


@dataclass
class Check:
    ok: bool
    detail: str


def readiness(names: Iterable[str] = ()) -> dict[str, Check]:
    """The checks named (all of CHECKS by default). Each is independent: one failing does not
    hide the others."""
    checks: dict[str, Check] = {}
    for name in names or CHECKS:
        check = CHECKS[name]
        try:
            checks[name] = check()
        except Exception:  # a readiness probe reports failures, it does not raise them
            logger.exception("readiness check %s failed", name)
            checks[name] = Check(False, "failed (the error is in the logs)")
    return checks


def readiness_report(*, detailed: bool, names: Iterable[str] = ()) -> tuple[bool, dict[str, Any]]:
    """Without `detailed`, each check's verdict only: the details (how long the oldest task
    has waited, how many wait to retry) would tell a stranger whether a request they just made
    queued an email, and so whether an address has an account."""
    checks = readiness(names)
    ready = all(check.ok for check in checks.values())
    report = {
        "status": "ok" if ready else "fail",
        "checks": {
            name: asdict(check) if detailed else {"ok": check.ok} for name, check in checks.items()
        },
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
    if not settings.Q_BROKER_IS_DATABASE:
        return Check(True, "not measured with the Redis broker")
    age = oldest_queued_age()
    limit = settings.READY_MAX_QUEUE_AGE
    waiting = "queue empty" if age is None else f"oldest queued task waits {age:.0f}s"
    detail = f"{waiting}; {retry_summary()}"
    if age is not None and age > limit:
        return Check(False, f"{detail} (limit {limit}s)")
    return Check(True, detail)


def check_workers() -> Check:
    clusters = clusters_reporting()
    if not clusters:
        return Check(False, "no worker cluster reported in the last few seconds")
    return Check(True, f"{len(clusters)} cluster(s) reporting")


# By name, in the order reported. A web server's own readiness (a load balancer's, or
# Kubernetes' readinessProbe) is `database` and `migrations`: with no worker running, signups
# are still taken and their tasks wait in the queue.
CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "migrations": check_migrations,
    "queue": check_queue_age,
    "workers": check_workers,
}
