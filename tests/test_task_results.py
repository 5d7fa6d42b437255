"""What django-q2 keeps of finished tasks: failures always, successes except the signup tasks'."""

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, Success, Task
from django_q.signals import post_execute

from accounts.models import AuditRecord, EmailDelivery
from taskqueue.enqueue import enqueue
from tests.factories import failed_welcome_email, signup

SIGNUP_TASKS = ["accounts.tasks.send_welcome_email", "accounts.tasks.record_signup"]


def finished(task_id: str, *, success: bool, save: bool) -> dict[str, Any]:
    """A finished task as the monitor sees it."""
    return {
        "id": task_id,
        "success": success,
        "save": save,
        "stopped": timezone.now(),
        "result": "sent" if success else "SMTPServerDisconnected",
    }


@pytest.mark.django_db
def test_signup_tasks_record_their_effects_but_no_success_result(sync_tasks: None) -> None:
    user = signup("alice")
    assert EmailDelivery.objects.filter(user=user).count() == 1
    assert AuditRecord.objects.filter(user=user).count() == 1
    assert not Success.objects.filter(func__in=SIGNUP_TASKS).exists()


@pytest.mark.django_db
def test_other_tasks_keep_their_success_results(sync_tasks: None) -> None:
    user = signup("alice")
    enqueue("accounts.tasks.send_verification_email", user.pk, "r1", task_name="v", group="v")
    assert Success.objects.filter(func="accounts.tasks.send_verification_email").count() == 1


@pytest.mark.django_db
def test_a_signup_task_that_succeeds_after_failing_is_no_longer_a_failure() -> None:
    failure = failed_welcome_email(1)
    post_execute.send(sender="django_q", task=finished(failure.id, success=True, save=False))
    settled = Task.objects.get(pk=failure.id)
    assert settled.success
    assert settled.result == "sent"
    assert settled.attempt_count == 6
    assert not Failure.objects.exists()


@pytest.mark.django_db
def test_a_signup_task_that_fails_again_stays_a_failure() -> None:
    failure = failed_welcome_email(1)
    post_execute.send(sender="django_q", task=finished(failure.id, success=False, save=False))
    assert Failure.objects.get(pk=failure.id).attempt_count == 5


@pytest.mark.django_db(transaction=True)  # autocommit, as in the monitor
@pytest.mark.parametrize("save", [False, True], ids=["signup-task", "success-kept"])
def test_a_first_success_is_settled_by_one_read_and_no_write(save: bool) -> None:
    with CaptureQueriesContext(connection) as queries:
        post_execute.send(
            sender="django_q", task=finished(uuid.uuid4().hex, success=True, save=save)
        )
    assert [query["sql"].split()[0] for query in queries] == ["SELECT"]


@pytest.mark.django_db
def test_a_success_is_settled_with_the_redis_broker_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Q_BROKER_URL django-q2's Conf.ORM is None: the reads go where the ORM's would."""
    monkeypatch.setattr(Conf, "ORM", None)
    failure = failed_welcome_email(1)
    post_execute.send(sender="django_q", task=finished(failure.id, success=True, save=False))
    assert Task.objects.get(pk=failure.id).success
    post_execute.send(sender="django_q", task=finished(uuid.uuid4().hex, success=True, save=True))
