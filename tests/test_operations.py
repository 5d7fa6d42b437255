"""Running it: probes, the staff status page, logs, the production configuration, scale-out."""

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from accounts.models import AuditRecord, EmailDelivery, User
from tests.factories import failed_welcome_email, many_signups, signup, waiting_to_retry
from tests.outcomes import duplicate_emails, post_signup, wait_for_all_effects
from tests.support import PROJECT_DIR, QCluster, SmtpServer, WebServer, manage, wait_for

PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": "x" * 20 + uuid.uuid4().hex + "y" * 20,
    "ALLOWED_HOSTS": "portal.example.com,127.0.0.1",
    "SECURE_HSTS_PRELOAD": "True",
    "PORTAL_BASE_URL": "https://portal.example.com",
}


# Probes


@pytest.mark.django_db
def test_healthz_says_the_process_is_up(client: Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_readyz_fails_when_no_worker_cluster_reports(client: Client) -> None:
    response = client.get("/readyz")
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert not checks["workers"]["ok"]
    assert checks["database"]["ok"]
    assert checks["migrations"]["ok"]
    assert checks["queue"]["ok"]


@pytest.mark.django_db
def test_a_web_servers_readiness_leaves_the_workers_out(client: Client) -> None:
    """A load balancer asking this keeps the web servers in while no worker runs: signups are
    taken and their tasks wait in the queue."""
    response = client.get("/readyz?checks=database,migrations")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "migrations"}


def test_readiness_of_an_unknown_check_is_refused_by_name(client: Client) -> None:
    response = client.get("/readyz?checks=database,wrokers")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_check"
    assert "wrokers" in response.json()["message"]


@pytest.mark.django_db
def test_readyz_fails_when_the_oldest_queued_task_is_too_old(
    admin_client: Client, settings: object
) -> None:
    settings.READY_MAX_QUEUE_AGE = 60
    signup("alice")
    OrmQ.objects.update(lock=timezone.now() - timedelta(minutes=5))
    check = admin_client.get("/readyz").json()["checks"]["queue"]
    assert not check["ok"]
    assert "oldest queued task waits 300s" in check["detail"]


@pytest.mark.django_db
def test_readyz_tells_anonymous_callers_each_verdict_and_no_detail(client: Client) -> None:
    """A queue detail would tell a stranger whether their reset request queued an email."""
    signup("alice")
    checks = client.get("/readyz").json()["checks"]
    assert checks["queue"] == {"ok": True}
    assert checks["workers"] == {"ok": False}


@pytest.mark.integration
def test_readyz_is_ok_with_a_worker_cluster_running(
    admin_client: Client, start_qcluster: Callable[..., QCluster]
) -> None:
    start_qcluster()
    response = wait_for(
        lambda: (r := admin_client.get("/readyz")).status_code == 200 and r, timeout=60
    )
    assert response.json()["status"] == "ok"
    assert "1 cluster(s) reporting" in response.json()["checks"]["workers"]["detail"]


# The staff status page and its JSON


@pytest.mark.django_db
def test_status_page_is_for_staff_only(client: Client, django_user_model: type) -> None:
    assert client.get("/staff/status/").status_code == 302
    client.force_login(django_user_model.objects.create_user("bob", "bob@example.com", "pw"))
    assert client.get("/staff/status/").status_code == 302


@pytest.mark.django_db
def test_status_page_shows_the_queue_and_failures(admin_client: Client) -> None:
    signup("alice")
    failed_welcome_email(99)
    page = admin_client.get("/staff/status/").content.decode()
    assert "Task queue" in page
    assert "welcome-email-99" in page
    assert "Connection refused" in page
    assert "No worker cluster is reporting" in page


@pytest.mark.django_db
def test_staff_requeue_failed_tasks_from_the_status_page(admin_client: Client) -> None:
    failure = failed_welcome_email(99)
    response = admin_client.post("/staff/status/requeue/", {"failure": [failure.id]})
    assert response.status_code == 302
    assert not Failure.objects.exists()
    queued = [SignedPackage.loads(row.payload)["name"] for row in OrmQ.objects.all()]
    assert "welcome-email-99" in queued
    assert "Re-queued 1 failed task." in admin_client.get("/staff/status/").content.decode()


@pytest.fixture
def staff_without_permissions(client: Client) -> Client:
    client.force_login(User.objects.create_user("helpdesk", "h@example.com", is_staff=True))
    return client


@pytest.mark.django_db
def test_staff_without_the_permission_read_the_status_page_but_cannot_act_on_tasks(
    staff_without_permissions: Client,
) -> None:
    failure = failed_welcome_email(99)
    page = staff_without_permissions.get("/staff/status/").content.decode()
    assert "welcome-email-99" in page
    assert "Re-queue selected" not in page
    assert "Failed tasks in the admin" not in page
    answer = staff_without_permissions.post("/staff/status/requeue/", {"failure": [failure.id]})
    assert answer.status_code == 403
    assert Failure.objects.exists()


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_bring_a_retry_forward(
    staff_without_permissions: Client,
) -> None:
    answer = staff_without_permissions.post("/staff/status/retry-now/", {"task": "1"})
    assert answer.status_code == 403


@pytest.mark.django_db
def test_requeueing_with_nothing_ticked_says_so_instead_of_a_success(
    admin_client: Client,
) -> None:
    failed_welcome_email(99)
    admin_client.post("/staff/status/requeue/", {})
    page = admin_client.get("/staff/status/").content.decode()
    assert '<p class="alert alert--error" role="alert">Nothing was re-queued' in page
    assert Failure.objects.exists()


@pytest.mark.django_db
def test_a_task_that_could_not_be_requeued_is_told_apart(admin_client: Client) -> None:
    failure = failed_welcome_email(99)
    admin_client.post("/staff/status/requeue/", {"failure": [failure.id, "no-such-task"]})
    page = admin_client.get("/staff/status/").content.decode()
    assert "Re-queued 1 failed task." in page
    assert "Some were not re-queued" in page


@pytest.mark.django_db
def test_staff_bring_a_retry_forward_from_the_status_page(admin_client: Client) -> None:
    failure = failed_welcome_email(99, attempts=2)
    retry = waiting_to_retry(failure, 2, timezone.now() + timedelta(hours=3))
    page = admin_client.get("/staff/status/").content.decode()
    assert 'action="/staff/status/retry-now/"' in page
    admin_client.post("/staff/status/retry-now/", {"task": failure.id})
    assert OrmQ.objects.get(pk=retry.queue_row_id).lock <= timezone.now()
    assert (
        "The next attempt of 1 task comes now."
        in admin_client.get("/staff/status/").content.decode()
    )


@pytest.mark.django_db
def test_status_json_is_for_staff(client: Client, django_user_model: type) -> None:
    assert client.get("/api/status/").status_code == 401
    client.force_login(django_user_model.objects.create_user("bob", "bob@example.com", "pw"))
    response = client.get("/api/status/")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


@pytest.mark.django_db
def test_status_json_refuses_a_stranger_in_their_language(client: Client) -> None:
    response = client.get("/api/status/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Connectez-vous d’abord en tant que membre de l’équipe.",
        "field": None,
        "errors": [],
    }


@pytest.mark.django_db
def test_status_json_reports_depth_results_and_failures(admin_client: Client) -> None:
    signup("alice")
    failed_welcome_email(99, attempts=1)
    status = admin_client.get("/api/status/").json()
    assert status["queue"]["depth"] == OrmQ.objects.count() >= 2
    assert status["queue"]["oldest_age_seconds"] >= 0
    assert status["recent_failures"][0]["name"] == "welcome-email-99"
    assert {
        "func": "accounts.tasks.send_welcome_email",
        "task": "Welcome email",
        "succeeded": 0,
        "failed": 1,
    } in status["last_hour"]
    assert status["clusters"] == []


@pytest.mark.django_db
def test_status_counts_welcome_emails_sent_as_successes_of_their_task(
    admin_client: Client,
) -> None:
    """The signup tasks keep no success results; their effects are counted instead."""
    user = signup("alice")
    EmailDelivery.objects.create(user=user, kind="welcome", message_id="<welcome.1@localhost>")
    status = admin_client.get("/api/status/").json()
    assert {
        "func": "accounts.tasks.send_welcome_email",
        "task": "Welcome email",
        "succeeded": 1,
        "failed": 0,
    } in status["last_hour"]


# Logs


def run_django(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return manage("shell", "-c", code, env={**os.environ, **env})


def test_tokens_in_logged_paths_are_redacted() -> None:
    logged = run_django(
        "import logging; logging.getLogger('django.server').info("
        "'\"GET /verify-email/MQ/cz4k2p-0123456789abcdef/ HTTP/1.1\" 200 1234')",
        {},
    )
    assert "/verify-email/[redacted]" in logged.stderr
    assert "cz4k2p-0123456789abcdef" not in logged.stderr


def test_json_log_format_can_be_switched_on() -> None:
    logged = run_django(
        "import logging; logging.getLogger('accounts.signup').info('account %s created', 7)",
        {"LOG_FORMAT": "json"},
    )
    line = json.loads(logged.stderr.strip().splitlines()[-1])
    assert line["message"] == "account 7 created"
    assert (line["level"], line["logger"], line["task"]) == ("INFO", "accounts.signup", "-")


@pytest.mark.integration
def test_worker_log_lines_name_the_account_and_the_task(
    smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    [user] = many_signups(1)
    cluster = start_qcluster()
    wait_for(lambda: "welcome email for account" in cluster.log())
    line = next(line for line in cluster.log().splitlines() if "welcome email for" in line)
    assert re.search(rf"\[task welcome-email-{user.pk} \([0-9a-f]{{32}}\)\]", line), line
    assert f"account {user.pk}" in line


# Production configuration


def test_check_deploy_passes_with_the_production_environment(tmp_path: Path) -> None:
    env = {**os.environ, **PRODUCTION_ENV, "PORTAL_VAR_DIR": str(tmp_path)}
    assert manage("collectstatic", "--noinput", env=env).returncode == 0
    checked = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_a_release_without_collected_static_files_is_refused_at_start_with_the_fix(
    tmp_path: Path,
) -> None:
    env = {**os.environ, **PRODUCTION_ENV, "PORTAL_VAR_DIR": str(tmp_path)}
    checked = manage("check", "--deploy", env=env)
    assert checked.returncode != 0
    assert "python manage.py collectstatic --noinput" in checked.stderr
    started = subprocess.run(
        [sys.executable, "-c", "import portal.wsgi"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "Static files have not been collected" in started.stderr


@pytest.mark.parametrize(
    ("address", "base_url"),
    [
        ("127.0.0.1:8751", "http://127.0.0.1:8751"),
        ("8080", "http://127.0.0.1:8080"),
        ("0:8000", "http://127.0.0.1:8000"),
    ],
)
def test_in_development_email_links_follow_the_address_the_server_listens_on(
    tmp_path: Path, address: str, base_url: str
) -> None:
    env = {
        **os.environ,
        "DEBUG": "True",
        "PORTAL_ADDRESS": address,
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    env.pop("PORTAL_BASE_URL", None)
    printed = manage(
        "shell", "-c", "from django.conf import settings; print(settings.PORTAL_BASE_URL)", env=env
    )
    assert printed.stdout.strip().splitlines()[-1] == base_url


def test_debug_false_without_a_base_url_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, **PRODUCTION_ENV, "PORTAL_VAR_DIR": str(tmp_path)}
    env.pop("PORTAL_BASE_URL")
    checked = manage("check", env=env)
    assert checked.returncode != 0
    assert "Set PORTAL_BASE_URL" in checked.stderr


def test_debug_false_without_a_secret_key_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "DEBUG": "False", "PORTAL_VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    checked = manage("check", env=env)
    assert checked.returncode != 0
    assert "Set SECRET_KEY when DEBUG=False." in checked.stderr


@pytest.mark.integration
def test_gunicorn_serves_pages_and_collected_static_files_in_production(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **worker_env,
        **PRODUCTION_ENV,
        "SECURE_SSL_REDIRECT": "False",
        "SECURE_COOKIES": "False",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    server = WebServer(env, tmp_path / "web.log")
    base_url = server.url
    try:
        page = urllib.request.urlopen(f"{base_url}/signup/", timeout=30).read().decode()
        stylesheet = re.search(r'href="(/static/css/portal\.[0-9a-f]+\.css)"', page).group(1)
        with urllib.request.urlopen(base_url + stylesheet, timeout=30) as response:
            assert response.status == 200
            assert "max-age" in response.headers["Cache-Control"]
        assert post_signup(base_url, "alice")[0] == 201
    finally:
        server.stop()


# Several hosts


@pytest.mark.integration
def test_worker_hosts_share_one_queue_and_one_dying_loses_nothing(
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    record_property: Callable[[str, object], None],
) -> None:
    """Each cluster runs in its own process group, as on its own host, on the same queue."""
    users = many_signups(300)
    host_a, host_b = start_qcluster(), start_qcluster()
    wait_for(lambda: EmailDelivery.objects.count() >= 50, timeout=60, message="work under way")
    host_a.kill()
    wait_for_all_effects(smtp_server, len(users), timeout=180)
    assert host_b.is_running()
    assert AuditRecord.objects.count() == len(users)
    assert EmailDelivery.objects.count() == len(users)
    assert User.objects.count() == len(users)
    duplicates = duplicate_emails(smtp_server)
    record_property("duplicate_emails_after_a_host_died", duplicates)
    assert duplicates <= 2


# The Redis broker


def redis_url() -> str:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 in CI")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    client.flushdb()  # database 15 is the tests' own
    return url


@pytest.mark.integration
def test_signup_email_and_audit_run_through_the_redis_broker(
    worker_env: dict[str, str],
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    tmp_path: Path,
) -> None:
    url = redis_url()
    cluster = start_qcluster(Q_BROKER_URL=url)
    server = WebServer({**worker_env, "Q_BROKER_URL": url}, tmp_path / "web.log")
    base_url = server.url
    try:
        assert post_signup(base_url, "alice")[0] == 201
        assert not OrmQ.objects.exists()  # the queue is in Redis now
        wait_for_all_effects(smtp_server, 1, timeout=60)
        # The monitor settles each result (taskqueue.results) before it logs it.
        wait_for(lambda: cluster.log().count("Processed '") >= 2, message="both results settled")
    finally:
        server.stop()
