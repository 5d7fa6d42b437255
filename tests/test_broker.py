"""The database broker (accounts/broker.py): claiming tasks, handing out again, removing."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from taskqueue.broker import DatabaseBroker
from taskqueue.enqueue import enqueue
from taskqueue.requeue import requeue_failures
from tests.support import needs_postgresql

BULK = 3


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[DatabaseBroker]:
    monkeypatch.setattr(Conf, "BULK", BULK)
    monkeypatch.setattr(Conf, "POLL", 0)
    broker = get_broker()
    assert isinstance(broker, DatabaseBroker)
    yield broker


def queue_tasks(count: int) -> list[int]:
    """Queue `count` audit tasks; returns their queue row ids, oldest first."""
    for number in range(count):
        enqueue(
            "accounts.tasks.record_signup",
            number,
            "api",
            None,
            task_name=f"task-{number}",
            group="test",
        )
    return list(OrmQ.objects.order_by("id").values_list("id", flat=True))


@pytest.mark.django_db
def test_a_poll_claims_at_most_bulk_tasks_oldest_first(broker: DatabaseBroker) -> None:
    queued = queue_tasks(BULK + 2)
    claimed = broker.dequeue()
    assert [row_id for row_id, _ in claimed] == queued[:BULK]
    assert [SignedPackage.loads(payload)["args"][0] for _, payload in claimed] == [0, 1, 2]


@pytest.mark.django_db
def test_a_claimed_task_is_not_handed_out_again_before_the_retry_delay(
    broker: DatabaseBroker,
) -> None:
    queued = queue_tasks(BULK + 2)
    retry_delay = timedelta(seconds=Conf.RETRY)
    earliest_retry = timezone.now() + retry_delay
    broker.dequeue()
    assert [row_id for row_id, _ in broker.dequeue()] == queued[BULK:]
    assert broker.dequeue() is None
    latest_retry = timezone.now() + retry_delay
    locks = OrmQ.objects.values_list("lock", flat=True)
    assert all(earliest_retry <= lock <= latest_retry for lock in locks)


@pytest.mark.django_db
def test_an_unacknowledged_task_is_handed_out_again_after_the_retry_delay(
    broker: DatabaseBroker,
) -> None:
    [queued] = queue_tasks(1)
    [(claimed, _)] = broker.dequeue()
    OrmQ.objects.filter(pk=claimed).update(lock=timezone.now() - timedelta(seconds=1))
    assert [row_id for row_id, _ in broker.dequeue()] == [queued]


@pytest.mark.django_db
def test_an_acknowledged_task_leaves_the_queue(broker: DatabaseBroker) -> None:
    kept, acknowledged = queue_tasks(2)
    broker.acknowledge(acknowledged)
    assert list(OrmQ.objects.values_list("id", flat=True)) == [kept]


@pytest.mark.django_db
def test_tasks_of_another_cluster_are_not_claimed(broker: DatabaseBroker) -> None:
    other_cluster = DatabaseBroker(list_key="another-portal")
    row_id = other_cluster.enqueue(SignedPackage.dumps({"id": "x", "func": "print", "args": ()}))
    assert OrmQ.objects.get(pk=row_id).key == "another-portal"
    assert broker.dequeue() is None
    assert len(other_cluster.dequeue()) == 1


@pytest.mark.django_db
def test_the_claim_finds_ready_tasks_through_the_queue_index(broker: DatabaseBroker) -> None:
    """Each poll must not scan the queue: claimed rows, and on PostgreSQL the deleted rows that
    vacuum has not removed yet, would make every poll slower as the queue churns."""
    sql, params = broker.claim_statement(connection, timezone.now())
    explain = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"{explain} {sql}", params)
        plan = " ".join(str(column) for row in cursor.fetchall() for column in row)
    assert "accounts_ormq_key_lock" in plan


@pytest.mark.django_db(transaction=True)
@needs_postgresql("row locks exist only on PostgreSQL")
def test_two_clusters_polling_at_once_never_claim_the_same_task(broker: DatabaseBroker) -> None:
    """One cluster's claim is still uncommitted while another polls: the second passes over
    the locked rows instead of waiting for them or taking them too."""
    queued = queue_tasks(2 * BULK)
    first_claimed = threading.Event()
    second_done = threading.Event()
    claims: dict[str, list[int]] = {}

    def first_cluster() -> None:
        try:
            with transaction.atomic():
                claims["first"] = [row_id for row_id, _ in broker.dequeue()]
                first_claimed.set()
                second_done.wait(timeout=10)
        finally:
            connection.close()

    def second_cluster() -> None:
        try:
            claims["second"] = [row_id for row_id, _ in broker.dequeue()]
        finally:
            connection.close()

    holder = threading.Thread(target=first_cluster)
    holder.start()
    assert first_claimed.wait(timeout=10)
    poller = threading.Thread(target=second_cluster)
    poller.start()
    poller.join(timeout=5)
    polled_without_waiting = not poller.is_alive()
    second_done.set()
    holder.join()
    poller.join()
    assert polled_without_waiting, "the second poll waited for the first claim's row locks"
    assert claims["first"] == queued[:BULK]
    assert claims["second"] == queued[BULK:]


def insert_queue_row(payload: bytes | str) -> int:
    """A row written by something other than the portal, as an attacker with the database could."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_q_ormq (key, payload, lock) VALUES (%s, %s, %s)",
            [Conf.CLUSTER_NAME, payload, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    return OrmQ.objects.order_by("-id").values_list("id", flat=True)[0]


@pytest.mark.django_db
def test_a_queue_row_with_a_forged_signature_is_taken_out_once_and_recorded(
    broker: DatabaseBroker,
) -> None:
    [good] = queue_tasks(1)
    forged = insert_queue_row("gAWVAAAAAAAAAAB9lC4:1tForged:signature")
    make_ready()
    assert [row_id for row_id, _ in broker.dequeue()] == [good]
    assert not OrmQ.objects.filter(pk=forged).exists()
    failure = Failure.objects.get(name=f"unreadable-queue-row-{forged}")
    assert "BadSignature" in failure.result
    make_ready()
    assert [row_id for row_id, _ in broker.dequeue()] == [good]


@pytest.mark.django_db
def test_a_queue_row_that_is_not_text_does_not_stop_the_queue(broker: DatabaseBroker) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL refuses text that is not UTF-8 when it is written")
    [good] = queue_tasks(1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_q_ormq (key, payload, lock)"
            " VALUES (%s, CAST(X'FFFE00' AS TEXT), %s)",
            [Conf.CLUSTER_NAME, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    make_ready()
    assert [row_id for row_id, _ in broker.dequeue()] == [good]
    assert OrmQ.objects.count() == 1
    assert "UnicodeDecodeError" in Failure.objects.get().result


@pytest.mark.django_db
def test_an_unreadable_row_recorded_as_failed_is_not_requeued() -> None:
    insert_queue_row("not a package")
    broker = get_broker()
    make_ready()
    broker.dequeue()
    assert requeue_failures(Failure.objects.all()) == 0
    assert not OrmQ.objects.exists()


def make_ready() -> None:
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))
