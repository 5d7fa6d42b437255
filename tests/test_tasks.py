"""The tasks themselves, run in this process: each guards its own effect."""

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.models import Success, Task

from accounts.emails.messages import welcome_message_id
from accounts.emails.outbox import locked_account
from accounts.models import AuditRecord, EmailDelivery
from accounts.tasks import record_audit_event, record_signup, send_welcome_email
from taskqueue.results import prune_task_results
from tests.factories import signup
from tests.support import SmtpServer, database_url, free_port, needs_postgresql

pytestmark = pytest.mark.django_db


def test_welcome_email_has_text_and_html_bodies(mailoutbox: list) -> None:
    user = signup("alice")
    send_welcome_email(user.pk)
    [message] = mailoutbox
    assert message.to == ["alice@example.com"]
    assert "alice" in message.subject
    assert 'your account "alice" is ready' in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<strong>alice</strong>" in html


def test_welcome_email_has_a_stable_message_id(mailoutbox: list) -> None:
    user = signup("alice")
    send_welcome_email(user.pk)
    assert mailoutbox[0].extra_headers["Message-ID"] == welcome_message_id(user)
    assert EmailDelivery.objects.get(user=user).message_id == welcome_message_id(user)


def test_welcome_email_is_sent_once_when_the_task_runs_twice(mailoutbox: list) -> None:
    user = signup("alice")
    assert send_welcome_email(user.pk).startswith("sent")
    assert send_welcome_email(user.pk) == "already sent"
    assert len(mailoutbox) == 1


def test_welcome_email_for_an_account_without_password_says_so(mailoutbox: list) -> None:
    user = signup("alice", password=None)
    send_welcome_email(user.pk)
    assert "without a password" in mailoutbox[0].body


def test_plain_text_email_is_not_html_escaped(settings: object, mailoutbox: list) -> None:
    settings.PORTAL_BASE_URL = "https://example.com/portal?a=1&b=2"
    user = signup("alice")
    send_welcome_email(user.pk)
    assert "a=1&b=2" in mailoutbox[0].body
    assert "&amp;" not in mailoutbox[0].body


def test_failed_welcome_email_is_logged_with_the_account_id_and_raised(
    settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    user = signup("alice")
    with caplog.at_level(logging.WARNING, logger="taskqueue.context"), pytest.raises(OSError):
        send_welcome_email(user.pk)
    assert f"send_welcome_email failed for account {user.pk}: ConnectionRefusedError" in caplog.text
    assert "Traceback" not in caplog.text  # django-q2's own line of the failure carries it
    assert not EmailDelivery.objects.exists()


def test_welcome_email_for_a_deleted_account_is_skipped(mailoutbox: list) -> None:
    user = signup("alice")
    user_id = user.pk
    user.delete()
    assert send_welcome_email(user_id) == "account deleted"
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker: the key checked at once
def test_a_signup_record_for_a_deleted_account_is_skipped() -> None:
    user = signup("alice")
    user_id, joined = user.pk, user.date_joined.isoformat()
    user.delete()
    assert record_signup(user_id, "api", None, joined) == "account deleted"
    assert not AuditRecord.objects.exists()


def test_signup_is_recorded_once_with_source_and_address() -> None:
    user = signup("alice")
    assert record_signup(user.pk, "web", "203.0.113.9") == "recorded"
    record = AuditRecord.objects.get(user=user)
    assert (record.action, record.source, record.ip_address) == ("signup", "web", "203.0.113.9")
    assert record.occurred_at == user.date_joined


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker: no savepoint
def test_the_signup_record_is_written_without_reading_the_account(
    django_assert_num_queries: Callable[..., object],
) -> None:
    user = signup("alice")
    with django_assert_num_queries(1):  # the INSERT
        record_signup(user.pk, "api", None, user.date_joined.isoformat())
    assert AuditRecord.objects.get(user=user).occurred_at == user.date_joined


def test_a_signup_record_queued_without_the_joining_time_reads_it_from_the_account() -> None:
    """Tasks queued before the signup passed the time carry three arguments."""
    user = signup("alice")
    assert record_signup(user.pk, "api", None) == "recorded"
    assert AuditRecord.objects.get(user=user).occurred_at == user.date_joined


def test_signup_record_is_not_doubled_when_the_task_runs_twice() -> None:
    user = signup("alice")
    record_signup(user.pk, "api", None)
    assert record_signup(user.pk, "api", None) == "already recorded"
    assert AuditRecord.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_signup_record_in_a_worker_opens_no_transaction_even_when_redelivered() -> None:
    """Workers run in autocommit: a BEGIN and COMMIT per record would be two more round trips."""
    user = signup("alice")
    inserts_in_a_transaction: list[bool] = []

    def note_transaction(
        execute: Callable[..., object], sql: str, params: object, many: bool, context: object
    ) -> object:
        if sql.startswith('INSERT INTO "accounts_auditrecord"'):
            inserts_in_a_transaction.append(connection.in_atomic_block)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note_transaction):
        outcomes = [record_signup(user.pk, "api", None), record_signup(user.pk, "api", None)]
    assert outcomes == ["recorded", "already recorded"]
    assert inserts_in_a_transaction == [False, False]
    assert AuditRecord.objects.filter(user=user).count() == 1


def test_the_database_refuses_a_second_signup_record() -> None:
    user = signup("alice")
    record_signup(user.pk, "api", None)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditRecord.objects.create(
            user=user, action="signup", source="api", occurred_at=user.date_joined
        )


@pytest.mark.django_db(transaction=True)
@needs_postgresql("row locks exist only on PostgreSQL")
def test_audit_record_is_written_while_the_welcome_email_holds_the_account_lock() -> None:
    """Both tasks of a signup usually run at once; the email's lock must not stall the other."""
    user = signup("alice")
    outcome: list[str] = []

    def record_in_another_connection() -> None:
        try:
            outcome.append(record_signup(user.pk, "api", None))
        finally:
            connection.close()

    with transaction.atomic():
        assert locked_account(user.pk) == user
        recorder = threading.Thread(target=record_in_another_connection)
        recorder.start()
        recorder.join(timeout=10)
        written_under_the_lock = not recorder.is_alive()
    recorder.join()
    assert written_under_the_lock, "record_signup waited for the welcome email's lock"
    assert outcome == ["recorded"]


def test_tasks_run_in_sync_mode_as_part_of_the_signup(sync_tasks: None, mailoutbox: list) -> None:
    user = signup("alice")
    assert len(mailoutbox) == 1
    assert AuditRecord.objects.filter(user=user).count() == 1


def test_old_successful_task_results_are_pruned_and_failures_kept(settings: object) -> None:
    settings.TASK_RESULT_RETENTION_HOURS = 24
    now = timezone.now()

    def result(name: str, age: timedelta, success: bool) -> None:
        Task.objects.create(
            id=name, name=name, func="f", started=now - age, stopped=now - age, success=success
        )

    result("old-success", timedelta(hours=25), True)
    result("new-success", timedelta(hours=1), True)
    result("old-failure", timedelta(hours=25), False)
    assert prune_task_results() == "pruned 1"
    assert sorted(Task.objects.values_list("name", flat=True)) == ["new-success", "old-failure"]
    assert not Success.objects.filter(name="old-success").exists()


@pytest.mark.integration
def test_worker_reuses_its_mail_server_connection_and_reconnects_when_it_drops(
    smtp_settings: SmtpServer,
) -> None:
    alice, bob = signup("alice"), signup("bob")
    send_welcome_email(alice.pk)
    smtp_settings.stop()  # the server drops every connection, then comes back
    smtp_settings.start()
    send_welcome_email(bob.pk)
    assert [m.recipients for m in smtp_settings.handler.messages] == [
        ["alice@example.com"],
        ["bob@example.com"],
    ]


def test_in_development_each_email_is_a_file_of_its_own(settings: object, tmp_path: Path) -> None:
    """In the same second too: Django's own file backend appended those to one file."""
    settings.EMAIL_BACKEND = "portal.mail.MessageFileBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    users = [signup(f"user{number}", password=None) for number in range(5)]
    for user in users:
        send_welcome_email(user.pk)
    files = list(tmp_path.iterdir())
    assert len(files) == 5
    assert all(file.read_text().count("Subject: ") == 1 for file in files)


def test_one_connection_of_the_development_backend_writes_a_file_per_email(
    settings: object, tmp_path: Path
) -> None:
    settings.EMAIL_FILE_PATH = tmp_path
    with get_connection("portal.mail.MessageFileBackend") as mail_connection:
        for to in ("a@example.com", "b@example.com"):
            EmailMessage("Hi", "Body", to=[to], connection=mail_connection).send()
    assert len(list(tmp_path.iterdir())) == 2


@needs_postgresql("ends the worker's database connection from the server side")
@pytest.mark.django_db(transaction=True)
def test_an_email_sent_just_before_the_database_connection_dies_is_recorded_once_it_is_back(
    smtp_settings: SmtpServer,
) -> None:
    """The window a database restart opened: the mail server has the email, the record is not
    written yet. The record is written on a new connection, so a redelivery sends nothing."""
    user = signup("alice")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()

    def end_the_workers_connection() -> None:
        with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    smtp_settings.handler.on_accept = end_the_workers_connection
    assert send_welcome_email(user.pk).startswith("sent")
    smtp_settings.handler.on_accept = None
    assert EmailDelivery.objects.filter(user=user, kind="welcome").count() == 1
    assert send_welcome_email(user.pk) == "already sent"
    assert len(smtp_settings.messages) == 1


def test_a_failed_log_in_for_an_unknown_username_is_logged_by_that_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="accounts.tasks"):
        record_audit_event(
            uuid.uuid4().hex,
            AuditRecord.Action.LOGIN_FAILED,
            None,
            "nobody",
            "web",
            None,
            timezone.now().isoformat(),
        )
    assert "login_failed of unknown username 'nobody' recorded" in caplog.text
    assert "None" not in caplog.text
