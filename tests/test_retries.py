"""Retries that back off, and "failed" that means failed for good (taskqueue.retries)."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Task

from taskqueue import retries
from taskqueue.broker import DatabaseBroker
from taskqueue.enqueue import TaskCall, enqueue_together
from taskqueue.models import FailedAttempt, ScheduledRetry
from taskqueue.requeue import requeue_failures, retry_now
from taskqueue.results import prune_task_results
from taskqueue.retries import backoff, shortest_schedule
from taskqueue.status import queue_status, results_since
from tests import test_django_q2_contract as contract
from tests.outcomes import deliver, make_claimable

pytestmark = pytest.mark.django_db(transaction=True)

flaky_task = contract.flaky_task


@pytest.fixture
def broker() -> DatabaseBroker:
    return DatabaseBroker(list_key=Conf.CLUSTER_NAME)


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next three attempts of flaky_task fail."""
    monkeypatch.setattr(contract, "failures_to_come", 3)


def queue_flaky(name: str = "flaky", *, keep_success: bool = False) -> None:
    enqueue_together([TaskCall(flaky_task, (1,), name=name, group=None, keep_success=keep_success)])


def test_the_default_schedule_spreads_attempts_over_more_than_a_day() -> None:
    assert sum(shortest_schedule(), timedelta()) >= timedelta(hours=24)


def test_each_wait_doubles_up_to_the_ceiling_with_up_to_a_fifth_of_jitter(
    settings: object,
) -> None:
    settings.Q_RETRY_BACKOFF_BASE, settings.Q_RETRY_BACKOFF_MAX = 30, 100
    for attempts_made, expected in [(1, 30), (2, 60), (3, 100), (9, 100)]:
        waits = {backoff(attempts_made).total_seconds() for _ in range(50)}
        assert expected <= min(waits) and max(waits) <= expected * 1.2
        assert len(waits) > 1


def test_a_failed_task_waits_out_of_sight_until_its_next_attempt(
    broker: DatabaseBroker, failing: None, settings: object
) -> None:
    settings.Q_RETRY_BACKOFF_BASE = 30
    queue_flaky()
    before = timezone.now()
    deliver(broker)
    retry = ScheduledRetry.objects.get(name="flaky")
    assert retry.attempts_made == 1
    assert before + timedelta(seconds=30) <= retry.next_attempt_at
    assert retry.next_attempt_at <= timezone.now() + timedelta(seconds=36)
    assert OrmQ.objects.get().lock == retry.next_attempt_at
    assert broker.dequeue() is None  # not claimable before then


def test_a_failed_attempt_is_logged_with_its_number_and_when_the_next_comes(
    broker: DatabaseBroker, failing: None, caplog: pytest.LogCaptureFixture
) -> None:
    queue_flaky()
    deliver(broker)
    next_at = ScheduledRetry.objects.get().next_attempt_at.isoformat(timespec="seconds")
    assert f"flaky: attempt 1 of {Conf.MAX_ATTEMPTS} failed; the next at {next_at}" in caplog.text


@pytest.mark.parametrize("keep_success", [False, True], ids=["success-not-kept", "success-kept"])
def test_a_task_that_succeeds_on_a_later_attempt_waits_for_nothing_more(
    broker: DatabaseBroker, failing: None, keep_success: bool
) -> None:
    contract.failures_to_come = 1
    queue_flaky(keep_success=keep_success)
    deliver(broker)
    make_claimable()
    deliver(broker)
    assert not ScheduledRetry.objects.exists()
    assert not Failure.objects.exists()
    assert Task.objects.get(name="flaky").attempt_count == 2


def test_a_failed_attempt_stays_counted_after_its_task_succeeds(
    broker: DatabaseBroker, failing: None
) -> None:
    """The status charts and the last hour's counts show it; the failure record is gone."""
    contract.failures_to_come = 1
    queue_flaky()
    deliver(broker)
    make_claimable()
    deliver(broker)
    assert not Failure.objects.exists()
    [attempt] = FailedAttempt.objects.all()
    assert attempt.name == "flaky"
    assert attempt.error
    [row] = [row for row in results_since(timezone.now() - timedelta(hours=1)) if row["failed"]]
    assert (row["succeeded"], row["failed"]) == (1, 1)


def test_a_task_waiting_to_retry_can_be_retried_now(
    broker: DatabaseBroker, failing: None, settings: object
) -> None:
    """The mail server is back: nobody waits out a back-off of hours."""
    settings.Q_RETRY_BACKOFF_BASE = 3600
    queue_flaky()
    deliver(broker)
    assert broker.dequeue() is None
    [retry] = ScheduledRetry.objects.all()
    assert retry_now([retry.task_id, "not-waiting"]) == 1
    assert ScheduledRetry.objects.get().next_attempt_at <= timezone.now()
    assert broker.dequeue() is not None


def test_a_task_out_of_attempts_has_failed_for_good(
    broker: DatabaseBroker, failing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Conf, "MAX_ATTEMPTS", 2)
    queue_flaky()
    deliver(broker)
    make_claimable()
    deliver(broker)
    assert not ScheduledRetry.objects.exists()
    assert not OrmQ.objects.exists()
    status = queue_status()
    assert (status["queue"]["retrying"], status["queue"]["failed"]) == (0, 1)
    assert [failure["name"] for failure in status["recent_failures"]] == ["flaky"]


def test_the_last_failed_attempt_is_logged_as_failed_for_good(
    broker: DatabaseBroker,
    failing: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(Conf, "MAX_ATTEMPTS", 1)
    queue_flaky()
    deliver(broker)
    assert "flaky: attempt 1 of 1 failed, the last: it failed for good" in caplog.text


def test_a_task_waiting_to_retry_is_reported_apart_from_the_failed_ones(
    broker: DatabaseBroker, failing: None, client: Client, settings: object
) -> None:
    queue_flaky()
    deliver(broker)
    status = queue_status()
    assert status["queue"]["retrying"] == 1
    assert status["queue"]["failed"] == 0
    assert status["queue"]["in_progress"] == 0
    [retrying] = status["retrying"]
    assert (retrying["name"], retrying["attempts"]) == ("flaky", 1)
    assert retrying["max_attempts"] == Conf.MAX_ATTEMPTS
    assert "the mail server is away" in retrying["error"]
    assert status["recent_failures"] == []
    settings.METRICS_TOKEN = "scraper"  # a log-in would queue its own audit record
    answer = client.get("/readyz", HTTP_AUTHORIZATION="Bearer scraper")
    readiness = answer.json()["checks"]["queue"]["detail"]
    assert "1 waiting to retry (the first since " in readiness
    assert "0 failed for good" in readiness


def test_a_retry_made_before_q_max_attempts_was_lowered_counts_its_one_attempt_left(
    broker: DatabaseBroker, failing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "attempt 3 of 1": its next attempt is scheduled, and will be its last."""
    queue_flaky()
    deliver(broker)
    make_claimable()
    deliver(broker)
    monkeypatch.setattr(Conf, "MAX_ATTEMPTS", 1)
    [retrying] = queue_status()["retrying"]
    assert (retrying["attempts"], retrying["max_attempts"]) == (2, 3)


def test_requeueing_skips_a_task_still_waiting_to_retry(
    broker: DatabaseBroker, failing: None
) -> None:
    queue_flaky()
    deliver(broker)
    assert requeue_failures(Failure.objects.all()) == 0
    assert OrmQ.objects.count() == 1
    assert Failure.objects.count() == 1


def test_with_the_redis_broker_no_retry_is_announced(
    broker: DatabaseBroker, failing: None, settings: object
) -> None:
    """django-q2's Redis broker takes a task out of the queue when a worker takes it: there is
    no queue row to hide, and no next attempt to announce."""
    settings.Q_BROKER_IS_DATABASE = False
    queue_flaky()
    deliver(broker)
    assert not ScheduledRetry.objects.exists()


def test_a_failure_to_schedule_the_next_attempt_loses_no_attempt(
    broker: DatabaseBroker, failing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver runs inside django-q2's worker: an error there must not kill the worker
    before the attempt is recorded; the fixed Q_RETRY then applies."""

    def database_away(task: dict) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(retries, "hide_row", database_away)
    queue_flaky()
    deliver(broker)
    assert Failure.objects.get(name="flaky").attempt_count == 1
    assert OrmQ.objects.count() == 1


def test_a_retry_whose_queue_row_is_gone_is_not_waiting(
    broker: DatabaseBroker, failing: None
) -> None:
    """Deleted by hand or purged: nothing will run it, so its task has failed for good."""
    queue_flaky()
    deliver(broker)
    OrmQ.objects.all().delete()
    status = queue_status()
    assert (status["queue"]["retrying"], status["queue"]["failed"]) == (0, 1)
    assert status["retrying"] == []
    assert [failure["name"] for failure in status["recent_failures"]] == ["flaky"]


def test_a_retry_whose_queue_row_is_gone_does_not_block_requeueing(
    broker: DatabaseBroker, failing: None
) -> None:
    queue_flaky()
    deliver(broker)
    OrmQ.objects.all().delete()
    assert requeue_failures(Failure.objects.all()) == 1
    assert OrmQ.objects.count() == 1
    assert not ScheduledRetry.objects.exists()  # the stale note, forgotten once seen


def test_the_hourly_prune_forgets_retries_whose_queue_row_is_gone(
    broker: DatabaseBroker, failing: None
) -> None:
    queue_flaky("gone")
    deliver(broker)
    OrmQ.objects.all().delete()
    queue_flaky("still queued")
    deliver(broker)
    prune_task_results()
    assert list(ScheduledRetry.objects.values_list("name", flat=True)) == ["still queued"]
