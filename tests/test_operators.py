"""What operators see and do: the admin lists, and re-queueing failed tasks."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from accounts.models import AuditRecord, User
from tests.factories import STRONG_PASSWORD, failed_welcome_email, signup

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


# Each account's story


def test_an_accounts_admin_page_tells_its_whole_story(
    admin_client: Client, client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    alice = signup("alice")
    verify_link = re.search(r"https?://[^/\s]+(/verify-email/\S+)", mailoutbox[0].body).group(1)
    client.post(verify_link)
    client.post("/login/", {"username": "alice", "password": "wrong-password"})
    client.post("/login/", {"username": "alice", "password": STRONG_PASSWORD})
    client.post("/password-reset/", {"email": "alice@example.com"})
    failed_welcome_email(alice.pk)

    page = admin_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    story = page[page.index("What happened to this account") :]
    for event in [
        "Account created",
        "Signed up",
        "Welcome email sent",
        "Verified the email address",
        "Failed to log in",
        "Logged in",
        "Password reset email sent",
        "Password reset email: done",
        "Welcome email: failed for good after 5 attempt(s)",
        "Welcome email: attempt failed",
        "ConnectionRefusedError",
    ]:
        assert event in story, event


def test_queueing_the_welcome_email_again_sends_nothing_twice(
    admin_client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    alice = signup("alice")
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "queue_welcome_email", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "Queued the welcome email of 1 account(s)." in response.content.decode()
    assert [message.subject for message in mailoutbox].count(mailoutbox[0].subject) == 1


def test_staff_send_a_new_verification_link(
    admin_client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    alice = signup("alice")
    mailoutbox.clear()
    admin_client.post(
        "/admin/accounts/user/",
        {"action": "send_verification_link", "_selected_action": [alice.pk]},
    )
    [message] = mailoutbox
    assert message.subject == "Confirm your email address"


def change_in_the_admin(admin_client: Client, user: User, **fields: str) -> str:
    """Posts the admin's change form of `user` with `fields` changed; the page it answers."""
    form = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": f"{user.date_joined:%Y-%m-%d}",
        "date_joined_1": f"{user.date_joined:%H:%M:%S}",
        **fields,
    }
    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", form)
    assert response.status_code in (200, 302)
    return response.content.decode()


@pytest.mark.parametrize(
    ("field", "taken", "message"),
    [
        ("username", "ALICE", "An account with this username already exists."),
        ("email", "Alice@Example.com", "An account with this email already exists."),
    ],
)
def test_a_name_or_address_taken_in_another_letter_case_is_told_as_taken_in_the_admin(
    admin_client: Client, field: str, taken: str, message: str
) -> None:
    """Not a 500 from the database's case-blind constraint, nor the constraint's name."""
    signup("alice")
    bob = signup("bob")
    page = change_in_the_admin(admin_client, bob, **{field: taken})
    assert message in page
    assert "accounts_user_" not in page
    assert getattr(User.objects.get(pk=bob.pk), field) == getattr(bob, field)


def test_an_address_changed_in_the_admin_is_stored_in_its_canonical_form(
    admin_client: Client,
) -> None:
    bob = signup("bob")
    change_in_the_admin(admin_client, bob, email="bob@\uff45xample.org")  # fullwidth e
    assert User.objects.get(pk=bob.pk).email == "bob@example.org"


def test_staff_delete_an_account_with_its_records(admin_client: Client, sync_tasks: None) -> None:
    """A spam account, a request for erasure: its audit records go with it."""
    spam = signup("spammer")
    assert AuditRecord.objects.filter(user=spam).exists()
    response = admin_client.post(f"/admin/accounts/user/{spam.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=spam.pk).exists()
    assert not AuditRecord.objects.filter(user_id=spam.pk).exists()


def test_qinfo_summarises_the_queue(capsys: pytest.CaptureFixture[str]) -> None:
    """django-q2's own summary, as docs/operations.md offers it (it needs blessed)."""
    signup("alice")
    call_command("qinfo")
    assert re.search(r"Queued\W*2\b", capsys.readouterr().out.replace("Successes", " "))
