"""Nothing lost, nothing doubled, nothing half-written: the pipeline under crashes and outages.

Each test is named after the guarantee it proves (see README, "Guarantees"). All of them run
real `manage.py qcluster` processes and a real SMTP server against the test database.
"""

import http.cookiejar
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django_q.models import Failure, OrmQ

from accounts.emails.messages import welcome_message_id
from accounts.models import AuditRecord, EmailDelivery, User
from taskqueue.models import ScheduledRetry
from taskqueue.status import failed_for_good
from tests.conftest import TEST_WORKER_ENV
from tests.factories import many_signups
from tests.outcomes import (
    duplicate_emails,
    post_signup,
    recipients,
    wait_for_all_effects,
    wait_for_audit_record,
    wait_for_welcome_email,
)
from tests.support import (
    QCluster,
    SmtpServer,
    WebServer,
    free_port,
    manage,
    needs_postgresql,
    wait_for,
)

pytestmark = pytest.mark.integration

WORKERS_PER_CLUSTER = int(TEST_WORKER_ENV["Q_WORKERS"])


def assert_each_account_has_exactly_one_record_and_delivery() -> None:
    accounts = User.objects.count()
    assert AuditRecord.objects.filter(action="signup").count() == accounts
    assert AuditRecord.objects.values("user").distinct().count() == accounts
    assert EmailDelivery.objects.filter(kind="welcome").count() == accounts


def assert_every_effect_once(smtp_server: SmtpServer, accounts: int) -> None:
    """One audit record, one delivery row and one received email for each account."""
    assert_each_account_has_exactly_one_record_and_delivery()
    assert duplicate_emails(smtp_server) == 0
    assert len(recipients(smtp_server)) == accounts


def queue_again(tasks: list[OrmQ]) -> None:
    """What a lost acknowledgement leads to: the same signed tasks in the queue once more, each
    claimable from its original time, so that the worker takes it next to the original."""
    OrmQ.objects.bulk_create(
        OrmQ(key=task.key, payload=task.payload, lock=task.lock) for task in tasks
    )


def test_idempotent_effects_when_every_task_is_delivered_twice(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    users = many_signups(20)
    tasks = list(OrmQ.objects.all())
    start_qcluster()
    wait_for_all_effects(smtp_server, len(users), timeout=60)

    queue_again(tasks)
    wait_for(lambda: not OrmQ.objects.exists(), timeout=60, message="the second deliveries")
    assert_every_effect_once(smtp_server, accounts=len(users))


@needs_postgresql("needs row locks; on SQLite a task is delivered again only after Q_RETRY")
def test_idempotent_effects_when_two_deliveries_of_a_task_run_at_once(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    users = many_signups(20)
    queue_again(list(OrmQ.objects.all()))
    assert OrmQ.objects.count() == 4 * len(users)

    start_qcluster()
    wait_for(lambda: not OrmQ.objects.exists(), timeout=60, message="both copies to run")
    assert_every_effect_once(smtp_server, accounts=len(users))


def test_worker_crash_mid_stream_loses_nothing_and_doubles_at_most_the_emails_in_flight(
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    record_property: Callable[[str, object], None],
) -> None:
    users = many_signups(300)
    cluster = start_qcluster()
    wait_for(lambda: EmailDelivery.objects.count() >= 60, timeout=60, message="work under way")
    cluster.kill()  # SIGKILL to every process of the cluster
    done_at_crash = EmailDelivery.objects.count()
    assert done_at_crash < len(users), "the crash came too late to test anything"

    start_qcluster()
    wait_for_all_effects(smtp_server, len(users), timeout=180)
    assert_each_account_has_exactly_one_record_and_delivery()
    assert set(recipients(smtp_server)) == {user.email for user in users}
    duplicates = duplicate_emails(smtp_server)
    record_property("duplicate_welcome_emails_after_sigkill", duplicates)
    print(f"\nSIGKILL after {done_at_crash}/{len(users)} emails: {duplicates} sent twice")
    # Only an email handed to SMTP whose delivery record had not committed can go twice:
    # at most one per worker process, and recognisable by its Message-ID.
    assert duplicates <= WORKERS_PER_CLUSTER
    for user in users:
        ids = {m["Message-ID"] for m in smtp_server.messages_to(user.email)}
        assert ids == {welcome_message_id(user)}


def test_smtp_outage_failures_are_visible_and_every_email_goes_once_when_it_is_back(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    smtp_server.stop()
    cluster = start_qcluster()
    for name in ("alice", "bob", "carol"):
        assert post_signup(live_server.url, name)[0] == 201
    users = list(User.objects.all())

    wait_for(lambda: Failure.objects.count() == 3, message="three failed attempts recorded")
    for user in users:
        wait_for(lambda u=user: f"send_welcome_email failed for account {u.pk}" in cluster.log())
    assert AuditRecord.objects.count() == 3  # the audit records do not wait for the mail

    smtp_server.start()
    for user in users:
        wait_for_welcome_email(smtp_server, user.username, timeout=45)
    wait_for(lambda: not Failure.objects.exists(), message="the retries to be recorded")
    assert duplicate_emails(smtp_server) == 0


def test_an_smtp_outage_longer_than_a_fixed_retry_horizon_ends_with_every_email_sent_once(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    """The attempts back off (here in seconds, by default over a day): the outage outlasts the
    three attempts the tests' workers would otherwise have, and nobody touches anything."""
    smtp_server.stop()
    users = many_signups(3)
    start_qcluster(Q_MAX_ATTEMPTS="8", Q_RETRY_BACKOFF_BASE="1", Q_RETRY_BACKOFF_MAX="4")
    wait_for(
        lambda: ScheduledRetry.objects.filter(attempts_made__gte=4).count() == len(users),
        timeout=60,
        message="four failed attempts of each welcome email",
    )
    assert not failed_for_good().exists()

    smtp_server.start()
    wait_for_all_effects(smtp_server, len(users), timeout=60)
    wait_for(lambda: not Failure.objects.exists(), message="the successes to be recorded")
    assert not ScheduledRetry.objects.exists()
    assert duplicate_emails(smtp_server) == 0


def test_smtp_outage_exhausted_task_stays_failed_until_an_operator_requeues_it(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster], worker_env: dict[str, str]
) -> None:
    smtp_server.stop()
    [user] = many_signups(1)
    start_qcluster()
    max_attempts = int(TEST_WORKER_ENV["Q_MAX_ATTEMPTS"])
    failure = wait_for(
        lambda: Failure.objects.filter(attempt_count__gte=max_attempts).first(),
        timeout=60,
        message="the welcome email to exhaust its attempts",
    )
    assert failure.name == f"welcome-email-{user.pk}"
    wait_for(lambda: not OrmQ.objects.exists(), message="the broker to give the task up")

    smtp_server.start()
    requeued = manage("requeue_failed_tasks", failure.name, env=worker_env)
    assert requeued.returncode == 0, requeued.stderr
    assert "Re-queued 1 failed task(s)." in requeued.stdout
    wait_for_welcome_email(smtp_server, user.username)
    wait_for(lambda: EmailDelivery.objects.filter(user=user).exists())
    assert len(smtp_server.messages) == 1
    assert not Failure.objects.exists()


def test_several_workers_share_one_queue_and_do_each_effect_once(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    users = many_signups(1000)
    clusters = [start_qcluster(), start_qcluster()]
    wait_for_all_effects(smtp_server, len(users), timeout=600)
    wait_for(lambda: not OrmQ.objects.exists(), message="the queue to drain")

    assert_each_account_has_exactly_one_record_and_delivery()
    assert len(smtp_server.messages) == len(users)
    assert duplicate_emails(smtp_server) == 0
    for cluster in clusters:
        assert "processing welcome-email-" in cluster.log(), "a cluster did no work"


def test_graceful_stop_loses_no_task_that_was_running(
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    record_property: Callable[[str, object], None],
) -> None:
    smtp_server.handler.delay = 1.0
    users = many_signups(8)
    cluster = start_qcluster()
    wait_for(lambda: "processing welcome-email-" in cluster.log(), message="a task to start")
    stopped_by_itself = cluster.stop()  # SIGTERM while tasks run
    record_property("qcluster_stopped_by_itself_on_sigterm", stopped_by_itself)

    smtp_server.handler.delay = 0.0
    start_qcluster()
    wait_for_all_effects(smtp_server, len(users), timeout=60)
    assert_each_account_has_exactly_one_record_and_delivery()
    assert duplicate_emails(smtp_server) <= WORKERS_PER_CLUSTER


def race(base_url: str, bodies: list[dict[str, str]]) -> list[int]:
    """Send every signup at the same moment, each from its own thread."""
    start = threading.Barrier(len(bodies))

    def send(body: dict[str, str]) -> int:
        start.wait()
        return post_signup(base_url, **body)[0]

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


@pytest.mark.parametrize("field", ["username", "email"])
def test_racing_signups_for_the_same_name_create_one_account(
    live_server: object,
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    field: str,
) -> None:
    if field == "username":
        bodies = [{"username": "alice", "email": f"alice{n}@example.com"} for n in range(20)]
    else:
        cases = ["alice@example.com", "ALICE@example.com", "Alice@Example.com", "aLiCe@EXAMPLE.COM"]
        bodies = [{"username": f"alice{n}", "email": cases[n % 4]} for n in range(20)]
    statuses = race(live_server.url, bodies)

    assert sorted(statuses) == [201] + [409] * 19
    assert User.objects.count() == 1
    start_qcluster()
    user = User.objects.get()
    wait_for(lambda: EmailDelivery.objects.filter(user=user).exists(), message="welcome email")
    wait_for_audit_record(user.username)
    wait_for(lambda: not OrmQ.objects.exists(), message="the queue to drain")
    assert len(smtp_server.messages) == 1
    assert AuditRecord.objects.count() == 1


def test_database_trouble_signup_answers_503_and_writes_nothing(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    unreachable = f"postgres://postgres@127.0.0.1:{free_port()}/portal"
    server = WebServer({**worker_env, "DATABASE_URL": unreachable}, tmp_path / "web.log")
    base_url = server.url
    try:
        status, body = post_signup(base_url, "alice")
        assert status == 503
        assert body["code"] == "database_unavailable"

        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        form = browser.open(f"{base_url}/signup/", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        data = {
            "csrfmiddlewaretoken": token,
            "username": "bob",
            "email": "bob@example.com",
            "password": "correct-horse-battery-staple",
            "password_confirmation": "correct-horse-battery-staple",
        }
        with pytest.raises(urllib.error.HTTPError) as answer:
            browser.open(f"{base_url}/signup/", urllib.parse.urlencode(data).encode(), timeout=30)
        assert answer.value.code == 503
        assert "Temporarily unavailable" in answer.value.read().decode()
    finally:
        server.stop()
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


def restart_postgresql() -> None:
    versions = sorted(Path("/etc/postgresql").glob("*"))
    if not versions or not shutil.which("pg_ctlcluster"):
        pytest.skip("pg_ctlcluster is not available to restart PostgreSQL")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "restart"],
        check=True,
        timeout=120,
    )


def effects_done(smtp_server: SmtpServer, count: int) -> bool:
    """Like wait_for_all_effects, but riding out the moments the database is away."""
    try:
        return (
            len(recipients(smtp_server)) >= count
            and EmailDelivery.objects.count() >= count
            and AuditRecord.objects.count() >= count
        )
    except OperationalError:
        connection.close()
        return False


@needs_postgresql("restarts the PostgreSQL server")
def test_database_trouble_workers_recover_from_a_postgresql_restart_and_send_no_email_twice(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    """The restart comes while emails are being handed to the mail server: one whose record
    the restart interrupted is recorded once the database is back, not sent again."""
    many_signups(5, prefix="before")
    cluster = start_qcluster()
    wait_for_all_effects(smtp_server, 5, timeout=60)
    smtp_server.handler.delay = 0.1  # emails in flight during the restart
    many_signups(30, prefix="during")

    restart_postgresql()
    connection.close()
    many_signups(5, prefix="after")
    wait_for(lambda: effects_done(smtp_server, 40), timeout=120, interval=0.5)

    assert cluster.is_running(), "the cluster should recover without a restart"
    assert_each_account_has_exactly_one_record_and_delivery()
    message_ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(message_ids) == len(set(message_ids)) == 40
