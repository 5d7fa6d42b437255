"""Fixtures for the real parts: an SMTP server, qcluster processes, and sync mode for unit tests."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import translation
from django_q.conf import Conf

from accounts.emails import smtp
from taskqueue.broker import stop_listening
from tests.support import PROJECT_DIR, QCluster, SmtpServer, WebhookReceiver, database_url

# Short timings for the workers the tests start: an abandoned task is delivered again after
# Q_RETRY seconds, a failed one after 2, then 4 seconds, so a whole retry cycle fits in a test.
# Q_POLL keeps its default: the clusters are woken by the commits, as in production.
TEST_WORKER_ENV = {
    "SIGNUPS_PER_CLIENT_HOURLY": "100000",
    "Q_WORKERS": "2",
    "Q_TIMEOUT": "5",
    "Q_RETRY": "6",
    "Q_MAX_ATTEMPTS": "3",
    "Q_RETRY_BACKOFF_BASE": "2",
    "Q_RETRY_BACKOFF_MAX": "8",
    "DEBUG": "True",
}


def pytest_report_header() -> str:
    from django.conf import settings

    return f"database: {settings.DATABASES['default']['ENGINE']}"


@pytest.fixture(autouse=True)
def many_signups_per_client(settings: object) -> None:
    """The suite signs up hundreds of accounts from 127.0.0.1; the limit has tests of its own."""
    settings.SIGNUPS_PER_CLIENT_HOURLY = 100_000


@pytest.fixture(autouse=True)
def a_usable_database_connection() -> None:
    """Tests that restart PostgreSQL or end a connection from the server side can leave this
    process's connection dead, and Django opens a new one only in place of a closed one."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


@pytest.fixture(autouse=True)
def english_unless_a_test_says_otherwise() -> Iterator[None]:
    """A request in another language leaves that language active in the thread after it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def no_wakeup_listener_left_open() -> Iterator[None]:
    """A dequeue() in the test process listens for wake-ups, on PostgreSQL on a connection of
    its own, which would keep the test database from being dropped: closed after each test."""
    yield
    stop_listening()


@pytest.fixture
def sync_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run tasks inline at enqueue time. django-q2 read Q_CLUSTER at import, so patch Conf."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture
def webhook_settings(settings: object, webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    """Turn the signup webhook on, pointed at the receiver, with short retry delays."""
    settings.SIGNUP_WEBHOOK_URL = webhook_receiver.url
    settings.SIGNUP_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.WEBHOOK_RETRY_DELAYS = [1, 2]
    return webhook_receiver


@pytest.fixture
def smtp_settings(settings: object, smtp_server: SmtpServer) -> Iterator[SmtpServer]:
    """Make this process (sync tasks, live server) send through the real SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    yield smtp_server
    smtp.close_all()


@pytest.fixture
def worker_env(transactional_db: None, smtp_server: SmtpServer) -> dict[str, str]:
    """Environment for processes the tests start: the test database and the SMTP server."""
    return {
        **os.environ,
        **TEST_WORKER_ENV,
        "DATABASE_URL": database_url(connection.settings_dict),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_qcluster(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., QCluster]]:
    """Start real `manage.py qcluster` processes on the test database; stop them afterwards."""
    clusters: list[QCluster] = []

    def start(**env: str) -> QCluster:
        log_path = tmp_path / f"qcluster-{len(clusters) + 1}.log"
        cluster = QCluster(PROJECT_DIR, {**worker_env, **env}, log_path)
        cluster.start()
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()
