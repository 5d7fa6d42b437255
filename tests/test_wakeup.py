"""The pusher is woken when queued tasks commit, not by a timer (taskqueue/wakeup.py).

On PostgreSQL the enqueue sends a NOTIFY that the server delivers at commit; on SQLite the
enqueuing process sends a datagram to each cluster's socket after the commit. Q_POLL stays as a
fallback, set very long here so that only the wake-up can explain a prompt delivery.
"""

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ

from taskqueue import wakeup
from taskqueue.broker import DatabaseBroker
from tests.factories import signup
from tests.outcomes import post_signup, wait_for_welcome_email
from tests.support import QCluster, SmtpServer, needs_postgresql, wait_for

NEVER = 3600  # a fallback poll that no test waits for


class Rollback(Exception):
    """Raised to roll a transaction back."""


@pytest.fixture
def long_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Conf, "POLL", NEVER)


@pytest.fixture
def broker(long_poll: None) -> DatabaseBroker:
    broker = get_broker()
    assert isinstance(broker, DatabaseBroker)
    return broker


@pytest.fixture
def pg_listener(transactional_db: None) -> Iterator[psycopg.Connection[Any]]:
    """A connection LISTENing on the wake-up channel, as a pusher's."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as listener:
        listener.execute(f"LISTEN {wakeup.CHANNEL}")
        yield listener


@pytest.fixture
def wakeup_socket(transactional_db: None) -> Iterator[socket.socket]:
    """A socket in the wake-up directory, as a SQLite pusher's."""
    directory = wakeup.socket_directory()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "test-listener.sock"
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10)
        yield sock
    path.unlink(missing_ok=True)


def notifications_until_marker(listener: psycopg.Connection[Any]) -> list[str]:
    """Every notification on the channel up to a marker sent now: what was sent before it."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, 'marker')", [wakeup.CHANNEL])
    payloads = []
    for notify in listener.notifies(timeout=10):
        if notify.payload == "marker":
            return payloads
        payloads.append(notify.payload)
    raise AssertionError("the marker notification never came")


def datagrams_until_marker(sock: socket.socket) -> list[bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"marker", sock.getsockname())
    received = []
    while (datagram := sock.recv(16)) != b"marker":
        received.append(datagram)
    return received


def sign_up_and_roll_back() -> None:
    with pytest.raises(Rollback), transaction.atomic():
        signup("alice", password=None)
        raise Rollback


@needs_postgresql("LISTEN/NOTIFY")
def test_a_committed_signup_wakes_a_listening_connection(
    pg_listener: psycopg.Connection[Any],
) -> None:
    signup("alice", password=None)
    assert notifications_until_marker(pg_listener) == [""]


@needs_postgresql("LISTEN/NOTIFY")
def test_a_rolled_back_signup_sends_no_notification(pg_listener: psycopg.Connection[Any]) -> None:
    sign_up_and_roll_back()
    assert notifications_until_marker(pg_listener) == []
    assert not OrmQ.objects.exists()


@needs_postgresql("LISTEN/NOTIFY")
def test_no_notification_reaches_a_listener_before_the_signup_commits(
    pg_listener: psycopg.Connection[Any],
) -> None:
    with transaction.atomic():
        signup("alice", password=None)
        assert notifications_until_marker(pg_listener) == []
    assert notifications_until_marker(pg_listener) == [""]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite wake-up")
def test_a_committed_signup_sends_a_datagram_to_each_listening_cluster(
    wakeup_socket: socket.socket,
) -> None:
    signup("alice", password=None)
    assert datagrams_until_marker(wakeup_socket) == [b""]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite wake-up")
def test_a_rolled_back_signup_sends_no_datagram(wakeup_socket: socket.socket) -> None:
    sign_up_and_roll_back()
    assert datagrams_until_marker(wakeup_socket) == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite wake-up")
def test_a_socket_left_by_a_dead_cluster_is_removed_by_the_next_wake_up(
    transactional_db: None,
) -> None:
    directory = wakeup.socket_directory()
    directory.mkdir(parents=True, exist_ok=True)
    left = directory / "99999999.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(left))  # then closed: nobody reads it any more
    signup("alice", password=None)
    assert not left.exists()


def dequeue_until_claimed(broker: DatabaseBroker) -> list[tuple[int, str]]:
    """Call dequeue() as django-q2's pusher does (each call waits at most a second)."""
    return wait_for(broker.dequeue, timeout=20, interval=0, message="a claim")


@pytest.mark.django_db(transaction=True)
def test_an_idle_pusher_claims_a_committed_task_without_waiting_for_the_poll(
    broker: DatabaseBroker,
) -> None:
    assert broker.dequeue() is None  # an empty queue: the next call waits for a wake-up
    user = signup("alice", password=None)
    claimed = dequeue_until_claimed(broker)
    assert len(claimed) == 2
    assert broker.idle_until is None
    assert str(user.pk) in str(OrmQ.objects.get(id=claimed[0][0]).task["args"])


@pytest.mark.django_db(transaction=True)
def test_an_idle_pusher_returns_to_its_loop_while_nothing_comes(broker: DatabaseBroker) -> None:
    """django-q2's pusher checks between two dequeue() calls whether the cluster is stopping."""
    assert broker.dequeue() is None
    assert broker.dequeue() is None  # returned after at most a second, not after Q_POLL


@pytest.mark.django_db(transaction=True)
def test_a_hidden_task_is_claimed_when_it_falls_due_without_waiting_for_the_poll(
    broker: DatabaseBroker,
) -> None:
    signup("alice", password=None)
    OrmQ.objects.update(lock=timezone.now() + timedelta(seconds=1))  # as a retry's back-off
    assert broker.dequeue() is None
    assert len(dequeue_until_claimed(broker)) == 2


@pytest.mark.django_db(transaction=True)
def test_with_the_wake_up_off_the_pusher_polls(
    broker: DatabaseBroker, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.Q_WAKE_ON_COMMIT = False
    monkeypatch.setattr(Conf, "POLL", 0.01)
    assert broker.dequeue() is None
    signup("alice", password=None)
    assert len(dequeue_until_claimed(broker)) == 2


def cluster_is_listening() -> bool:
    """Whether a pusher listens for wake-ups on the test database."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query = %s",
                [f"LISTEN {wakeup.CHANNEL}"],
            )
            return cursor.fetchone()[0] > 0
    directory = wakeup.socket_directory()
    return directory.exists() and any(directory.iterdir())


@pytest.mark.integration
def test_a_cluster_with_a_very_long_poll_sends_the_welcome_email_promptly(
    live_server: Any, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> None:
    for left in wakeup.socket_directory().glob("*.sock"):  # by clusters killed earlier
        left.unlink()
    start_qcluster(Q_POLL=str(NEVER))
    wait_for(cluster_is_listening, message="the pusher to listen")
    for name in ("alice", "bob"):  # the second arrives while the pusher waits
        assert post_signup(live_server.url, name)[0] == 201
        wait_for_welcome_email(smtp_server, name, timeout=20)
