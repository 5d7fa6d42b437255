"""The slow work after the response, done by real `manage.py qcluster` processes.

Each test drives a real qcluster on the test database and a real SMTP server, and checks the
lesson's pitfalls: tasks lost on restart, failures that go unseen, a response that waits.
"""

import time
from collections.abc import Callable

import pytest
from django_q.models import Failure, OrmQ, Task

from accounts.emails.messages import welcome_message_id
from accounts.models import EmailDelivery, User
from tests.outcomes import post_signup, wait_for_audit_record, wait_for_welcome_email
from tests.support import QCluster, SmtpServer, manage, wait_for

pytestmark = pytest.mark.integration


def test_worker_sends_the_welcome_email_and_writes_the_audit_record(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    start_qcluster()
    status, body = post_signup(live_server.url, "alice", password="correct-horse-battery-staple")
    assert (status, body) == (201, {"message": "Account created", "username": "alice"})

    wait_for_welcome_email(smtp_server, "alice")
    record = wait_for_audit_record("alice")
    user = User.objects.get(username="alice")
    [message] = smtp_server.messages_to("alice@example.com")
    assert message["Message-ID"] == welcome_message_id(user)
    assert message.get_body(("plain",)).get_content().startswith("Hello alice")
    assert "<strong>alice</strong>" in message.get_body(("html",)).get_content()
    assert (record.source, record.ip_address) == ("api", "127.0.0.1")
    wait_for(lambda: not OrmQ.objects.exists(), message="the queue to drain")


def test_response_arrives_before_the_slow_welcome_email_is_sent(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    smtp_server.handler.delay = 3.0  # every email now takes at least 3 s to hand over
    start_qcluster()
    started = time.monotonic()
    status, _ = post_signup(live_server.url, "alice")
    answered = time.monotonic()
    assert status == 201
    assert smtp_server.messages == []
    assert not EmailDelivery.objects.exists()

    wait_for_welcome_email(smtp_server, "alice")
    delivered = smtp_server.handler.messages[0].received_at
    assert answered - started < smtp_server.handler.delay
    assert delivered - started >= smtp_server.handler.delay
    assert delivered > answered


def test_tasks_queued_while_no_worker_runs_are_done_when_one_starts(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    assert post_signup(live_server.url, "alice")[0] == 201
    assert OrmQ.objects.count() == 2  # persisted in the database, waiting

    start_qcluster()
    wait_for_welcome_email(smtp_server, "alice")
    wait_for_audit_record("alice")


def test_tasks_survive_a_worker_restart(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    first = start_qcluster()
    post_signup(live_server.url, "alice")
    wait_for_welcome_email(smtp_server, "alice")
    wait_for_audit_record("alice")
    first.stop()

    post_signup(live_server.url, "bob")
    start_qcluster()
    wait_for_welcome_email(smtp_server, "bob")
    wait_for_audit_record("bob")
    assert len(smtp_server.messages_to("alice@example.com")) == 1


def test_signup_committed_by_a_process_that_dies_right_after_is_still_processed(
    worker_env: dict[str, str], smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    die_after_commit = (
        "import os; from accounts.signup import sign_up; "
        "sign_up(username='alice', email='alice@example.com', password=None, source='api'); "
        "os._exit(137)"
    )
    died = manage("shell", "-c", die_after_commit, env=worker_env)
    assert died.returncode == 137, died.stderr
    assert OrmQ.objects.count() == 2

    start_qcluster()
    wait_for_welcome_email(smtp_server, "alice")
    wait_for_audit_record("alice")


def test_failing_welcome_email_is_logged_recorded_and_retried(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    smtp_server.stop()  # the mail server is down
    cluster = start_qcluster()
    post_signup(live_server.url, "alice")
    user = User.objects.get(username="alice")

    failed = wait_for(
        lambda: Failure.objects.filter(func="accounts.tasks.send_welcome_email").first(),
        message="the failed attempt to be recorded",
    )
    assert "Connection refused" in failed.result
    wait_for(lambda: f"send_welcome_email failed for account {user.pk}" in cluster.log())
    wait_for_audit_record("alice")  # the other task is not held up by the failing one

    smtp_server.start()  # back up: the next delivery of the task succeeds
    wait_for_welcome_email(smtp_server, "alice", timeout=45)
    wait_for(lambda: Task.objects.get(pk=failed.pk).success, message="the retry to succeed")
    assert len(smtp_server.messages_to("alice@example.com")) == 1
