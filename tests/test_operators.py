"""What operators see and do: the admin lists, and re-queueing failed tasks."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from tests.factories import failed_welcome_email, signup

pytestmark = pytest.mark.django_db


def queued_names() -> list[str]:
    return [SignedPackage.loads(row.payload)["name"] for row in OrmQ.objects.all()]


@pytest.mark.parametrize(
    "page",
    [
        "/admin/accounts/user/",
        "/admin/accounts/auditrecord/",
        "/admin/accounts/emaildelivery/",
        "/admin/django_q/ormq/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
    ],
)
def test_admin_lists_accounts_records_and_tasks(admin_client: Client, page: str) -> None:
    signup("alice")
    assert admin_client.get(page).status_code == 200


def test_failed_task_is_shown_with_its_error_in_the_admin(admin_client: Client) -> None:
    failed_welcome_email(signup("alice", password=None).pk)
    page = admin_client.get("/admin/django_q/failure/").content.decode()
    assert "welcome-email-" in page
    assert "Connection refused" in page


def test_admin_action_requeues_a_failed_task_under_its_name(admin_client: Client) -> None:
    user = signup("alice")
    OrmQ.objects.all().delete()
    failure = failed_welcome_email(user.pk)
    response = admin_client.post(
        "/admin/django_q/failure/", {"action": "requeue", "_selected_action": [failure.pk]}
    )
    assert response.status_code == 302
    assert queued_names() == [f"welcome-email-{user.pk}"]
    assert not Failure.objects.exists()


def test_command_requeues_named_failed_tasks() -> None:
    user = signup("alice")
    OrmQ.objects.all().delete()
    failed_welcome_email(user.pk)
    call_command("requeue_failed_tasks", f"welcome-email-{user.pk}")
    assert queued_names() == [f"welcome-email-{user.pk}"]
    assert not Failure.objects.exists()


def test_command_requeues_every_failed_task_with_all() -> None:
    users = [signup(name) for name in ("alice", "bob")]
    OrmQ.objects.all().delete()
    for user in users:
        failed_welcome_email(user.pk)
    call_command("requeue_failed_tasks", "--all")
    assert sorted(queued_names()) == sorted(f"welcome-email-{user.pk}" for user in users)


def test_command_refuses_an_unknown_task_name_and_changes_nothing() -> None:
    failure = failed_welcome_email(signup("alice").pk)
    OrmQ.objects.all().delete()
    with pytest.raises(CommandError, match="No failed task named: nope"):
        call_command("requeue_failed_tasks", failure.name, "nope")
    assert Failure.objects.count() == 1
    assert not OrmQ.objects.exists()


def test_command_needs_names_or_all() -> None:
    with pytest.raises(CommandError):
        call_command("requeue_failed_tasks")
