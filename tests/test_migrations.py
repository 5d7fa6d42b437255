"""Existing databases migrate forward without loss."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from accounts.models import User
from taskqueue.models import ScheduledRetry

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("taskqueue", None)]


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def migrated_back_to(before: tuple[str, str], model: str) -> type:
    """Migrate back to `before` and return `model` ("app.Model") as it was then."""
    migrate([before])
    state = MigrationExecutor(connection).loader.project_state(before)
    return state.apps.get_model(*model.split("."))


def migrate_to_the_latest() -> None:
    """As `migrate` does; the tests after these expect every migration applied."""
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


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
    migrate_to_the_latest()
    moved = "webhooks.delivery.deliver_webhook"
    assert Schedule.objects.get(name="webhook-retry").func == moved
    assert SignedPackage.loads(OrmQ.objects.get().payload)["func"] == moved
    assert Task.objects.get(name="webhook-1-1").func == moved
    assert Schedule.objects.get(name="prune-task-results").func == (
        "taskqueue.results.prune_task_results"
    )


def test_existing_accounts_are_brought_to_canonical_form_and_collisions_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = ("accounts", "0007_queue_table_index")
    OldUser = migrated_back_to(before, "accounts.User")
    for username, email in [
        ("Stra\u00dfe", "victim@example.org"),
        ("STRASSE", "victim@\uff45xample.org"),  # the same name and mailbox, written otherwise
        ("bob", "Bob@Example.COM"),
    ]:
        OldUser.objects.create(username=username, email=email, password="!")
    migrate_to_the_latest()
    accounts = {user.username: user for user in User.objects.all()}
    assert accounts["bob"].email == "Bob@example.com"
    assert accounts["Stra\u00dfe"].username_key == "strasse"
    assert accounts["STRASSE"].username_key == f"strasse#{accounts['STRASSE'].pk}"
    assert accounts["STRASSE"].email == "victim@\uff45xample.org"  # left, and reported
    reported = capsys.readouterr().out
    assert f"account {accounts['STRASSE'].pk} is the same as account" in reported
    assert f"email of account {accounts['STRASSE'].pk} left as it was" in reported


def test_retries_scheduled_before_their_queue_rows_were_noted_wait_only_if_still_queued() -> None:
    before = ("taskqueue", "0004_schedule_queue_samples")
    OldRetry = migrated_back_to(before, "taskqueue.ScheduledRetry")
    queued = OrmQ.objects.create(
        key="portal",
        payload=SignedPackage.dumps({"id": "c" * 32, "func": "accounts.tasks.anything"}),
        lock="2026-11-25T00:00:00Z",
    )
    for task_id in ("c" * 32, "d" * 32):  # the second one's queue row is gone
        OldRetry.objects.create(
            task_id=task_id, name=task_id[0], attempts_made=1, next_attempt_at=queued.lock
        )
    migrate_to_the_latest()
    assert list(ScheduledRetry.objects.values_list("task_id", "queue_row_id")) == [
        ("c" * 32, queued.pk)
    ]
