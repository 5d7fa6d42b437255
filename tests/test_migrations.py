"""Existing databases migrate forward without loss."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("taskqueue", None)]
AFTER_THE_MOVE = [("taskqueue", "0001_moved_task_paths")]


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def test_tasks_queued_scheduled_or_failed_before_the_move_find_their_functions() -> None:
    migrate(BEFORE_THE_MOVE)
    webhook = "accounts.tasks.deliver_webhook"
    Schedule.objects.create(name="webhook-retry", func=webhook, args="(1, 2)", repeats=-1)
    Schedule.objects.update_or_create(
        name="prune-task-results",
        defaults={"func": "accounts.tasks.prune_task_results", "schedule_type": "H"},
    )
    OrmQ.objects.create(
        key="portal",
        payload=SignedPackage.dumps({"id": "a" * 32, "func": webhook, "args": (1, 2)}),
        lock="2026-11-25T00:00:00Z",
    )
    Task.objects.create(
        id="b" * 32,
        name="webhook-1-1",
        func=webhook,
        args=(1, 1),
        started="2026-11-25T00:00:00Z",
        stopped="2026-11-25T00:00:01Z",
        success=False,
    )
    migrate(AFTER_THE_MOVE)
    moved = "webhooks.delivery.deliver_webhook"
    assert Schedule.objects.get(name="webhook-retry").func == moved
    assert SignedPackage.loads(OrmQ.objects.get().payload)["func"] == moved
    assert Task.objects.get(name="webhook-1-1").func == moved
    assert Schedule.objects.get(name="prune-task-results").func == (
        "taskqueue.results.prune_task_results"
    )
