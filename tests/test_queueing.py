"""Transactional enqueue on the ORM broker: the account and its two tasks commit together."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from accounts.models import User
from taskqueue.broker import DatabaseBroker
from tests.factories import signup


def queued_tasks() -> list[dict]:
    return [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("id")]


@pytest.mark.django_db(transaction=True)
def test_a_committed_signup_has_both_tasks_queued() -> None:
    user = signup("alice")
    tasks = queued_tasks()
    assert [task["func"] for task in tasks] == [
        "accounts.tasks.send_welcome_email",
        "accounts.tasks.record_signup",
    ]
    assert tasks[0]["args"] == (user.pk,)
    assert tasks[1]["args"] == (user.pk, "api", "127.0.0.1", user.date_joined.isoformat())


@pytest.mark.django_db(transaction=True)
def test_tasks_receive_only_ids_and_plain_values() -> None:
    signup("alice")
    for task in queued_tasks():
        values = [*task["args"], *task["kwargs"].values()]
        assert all(isinstance(value, int | str | type(None)) for value in values), task


@pytest.mark.django_db(transaction=True)
def test_a_signup_that_fails_after_queueing_leaves_no_account_and_no_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue_rows = DatabaseBroker.enqueue_many

    def queue_then_fail(broker: DatabaseBroker, tasks: list[str]) -> None:
        queue_rows(broker, tasks)
        assert OrmQ.objects.count() == 2
        raise RuntimeError("the transaction fails after the queue rows were written")

    monkeypatch.setattr(DatabaseBroker, "enqueue_many", queue_then_fail)
    with pytest.raises(RuntimeError):
        signup("alice")
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_signup_writes_both_tasks_in_one_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        signup("alice")
    queue_writes = [query for query in queries if "INSERT INTO django_q_ormq" in query["sql"]]
    assert len(queue_writes) == 1
    assert OrmQ.objects.count() == 2


def count_new_connections(action: Callable[[], object], times: int) -> int:
    opened = []

    def on_connect(sender: object, connection: object, **kwargs: object) -> None:
        opened.append(connection)

    connection_created.connect(on_connect)
    try:
        for _ in range(times):
            action()
    finally:
        connection_created.disconnect(on_connect)
    return len(opened)


def enqueue_outside_a_transaction() -> None:
    async_task("accounts.tasks.record_signup", 1, "api", None, broker=get_broker())


@pytest.mark.django_db(transaction=True)
def test_broker_reconnects_on_every_enqueue_when_connections_are_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trap the settings avoid: with CONN_MAX_AGE=0, each enqueue opens a new connection."""
    connection.ensure_connection()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()
    assert count_new_connections(enqueue_outside_a_transaction, times=5) >= 5


@pytest.mark.django_db(transaction=True)
def test_broker_reuses_the_connection_with_the_configured_conn_max_age() -> None:
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    connection.close()
    assert count_new_connections(enqueue_outside_a_transaction, times=5) <= 1


@pytest.mark.django_db(transaction=True)
def test_signup_queues_on_its_own_connection_even_without_connection_reuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Enqueueing inside the signup transaction never makes the broker reconnect."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()
    connection.ensure_connection()
    usernames = iter(["u1", "u2", "u3"])
    assert count_new_connections(lambda: signup(next(usernames)), times=3) == 0
