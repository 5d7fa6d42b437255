"""What the portal relies on in django-q2, checked against django-q2's own code paths.

taskqueue/ is the only code that imports django_q; these tests pin each behaviour it builds on,
so that an upgrade which changes one of them fails here, by name, rather than in production.
Workers and monitors are django-q2's own functions, run in this process.
"""

from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q import core_signing
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Success, Task
from django_q.scheduler import scheduler
from django_q.signals import pre_enqueue
from django_q.signing import BadSignature, PickleSerializer, SignedPackage
from django_q.tasks import async_task

from operations.log import current_task
from taskqueue.broker import DatabaseBroker
from taskqueue.enqueue import TaskCall, async_task_options, enqueue_together, schedule_once
from tests.outcomes import deliver, make_claimable

pytestmark = pytest.mark.django_db(transaction=True)

runs: list[dict[str, Any]] = []
failures_to_come = 0


def flaky_task(value: int) -> str:
    """Fails while failures_to_come > 0; notes the log context it ran in."""
    global failures_to_come
    runs.append({"value": value, "log_context": current_task.get()})
    if failures_to_come > 0:
        failures_to_come -= 1
        raise ConnectionRefusedError("the mail server is away")
    return f"done {value}"


@pytest.fixture(autouse=True)
def fresh_runs() -> None:
    global failures_to_come
    runs.clear()
    failures_to_come = 0


@pytest.fixture
def broker() -> DatabaseBroker:
    return DatabaseBroker(list_key=Conf.CLUSTER_NAME)


def queued_packages() -> list[dict[str, Any]]:
    return [
        SignedPackage.loads(payload) for payload in OrmQ.objects.values_list("payload", flat=True)
    ]


# Packages


@pytest.mark.parametrize("keep_success", [True, False])
def test_packages_are_what_async_task_would_have_queued(keep_success: bool) -> None:
    """The packages are built by taskqueue.enqueue rather than by async_task(); the workers must
    not see any difference but the task id and time."""
    task = TaskCall(flaky_task, (1,), name="ours", group="contract", keep_success=keep_success)
    enqueue_together([task])
    async_task(task.path, *task.args, **async_task_options(task))
    ours, theirs = queued_packages()
    for package in (ours, theirs):
        assert package.pop("started") is not None
        assert len(package.pop("id")) == 32
    assert ours == theirs
    assert ours.get("save", True) is keep_success


def test_pre_enqueue_is_sent_with_each_package() -> None:
    sent: list[dict[str, Any]] = []

    def note(sender: str, task: dict[str, Any], **kwargs: Any) -> None:
        sent.append(task)

    pre_enqueue.connect(note)
    try:
        enqueue_together([TaskCall(flaky_task, (7,), name="signalled", group=None)])
    finally:
        pre_enqueue.disconnect(note)
    assert [(task["name"], task["args"]) for task in sent] == [("signalled", (7,))]


def test_a_package_signed_with_another_key_is_refused() -> None:
    forged = core_signing.dumps(
        {"func": "os.system", "args": ("true",)},
        key="not-" + settings.SECRET_KEY,
        salt=Conf.PREFIX,
        serializer=PickleSerializer,
    )
    with pytest.raises(BadSignature):
        SignedPackage.loads(forged)


# The queue table and the two brokers


def test_the_queue_table_has_the_columns_the_broker_writes() -> None:
    columns = {field.column for field in OrmQ._meta.get_fields() if hasattr(field, "column")}
    assert OrmQ._meta.db_table == "django_q_ormq"
    assert columns == {"id", "key", "payload", "lock"}


def test_django_q2s_own_broker_takes_the_tasks_ours_queued(broker: DatabaseBroker) -> None:
    enqueue_together([TaskCall(flaky_task, (1,), name="ours", group=None)])
    stock = ORM(list_key=Conf.CLUSTER_NAME)
    [(row_id, payload)] = stock.dequeue()
    assert SignedPackage.loads(payload)["func"] == "tests.test_django_q2_contract.flaky_task"
    stock.acknowledge(row_id)
    assert not OrmQ.objects.exists()


def test_ours_takes_the_tasks_django_q2s_own_broker_queued(broker: DatabaseBroker) -> None:
    async_task(flaky_task, 2, broker=ORM(list_key=Conf.CLUSTER_NAME))
    [(row_id, payload)] = broker.dequeue()
    assert SignedPackage.loads(payload)["args"] == (2,)
    broker.acknowledge(row_id)
    assert not OrmQ.objects.exists()


def test_a_scheduled_task_is_queued_by_django_q2s_scheduler(broker: DatabaseBroker) -> None:
    """The webhook's retries are Schedule rows that django-q2's scheduler turns into tasks."""
    schedule_once(flaky_task, 3, name="retry-3", at=timezone.now())
    scheduler(broker)
    [package] = queued_packages()
    assert (package["func"], package["args"]) == ("tests.test_django_q2_contract.flaky_task", (3,))
    assert not Schedule.objects.filter(name="retry-3", repeats__gt=0).exists()


# A worker and the monitor


def test_a_task_runs_with_its_name_in_the_log_context(broker: DatabaseBroker) -> None:
    enqueue_together([TaskCall(flaky_task, (1,), name="named-task", group=None)])
    result = deliver(broker)
    [run] = runs
    assert run["log_context"] == f"named-task ({result['id']})"
    assert current_task.get() == "-"


def test_a_success_is_acknowledged_and_its_result_saved(broker: DatabaseBroker) -> None:
    enqueue_together([TaskCall(flaky_task, (1,), name="kept", group=None)])
    deliver(broker)
    assert not OrmQ.objects.exists()
    assert Success.objects.get(name="kept").result == "done 1"


def test_a_success_of_a_task_that_keeps_none_saves_nothing(broker: DatabaseBroker) -> None:
    enqueue_together([TaskCall(flaky_task, (1,), name="unkept", group=None, keep_success=False)])
    deliver(broker)
    assert not OrmQ.objects.exists()
    assert not Task.objects.exists()


def test_a_failure_is_saved_and_stays_queued_for_its_retry(broker: DatabaseBroker) -> None:
    global failures_to_come
    failures_to_come = 1
    enqueue_together([TaskCall(flaky_task, (1,), name="flaky", group=None, keep_success=False)])
    deliver(broker)
    failure = Failure.objects.get(name="flaky")
    assert failure.attempt_count == 1
    assert "the mail server is away" in failure.result
    assert OrmQ.objects.count() == 1


@pytest.mark.parametrize("keep_success", [True, False])
def test_a_failure_whose_retry_succeeds_becomes_a_success(
    broker: DatabaseBroker, keep_success: bool
) -> None:
    """django-q2 does this for the tasks whose results it saves; taskqueue.results does the same
    for the others: either way the task leaves the failures."""
    global failures_to_come
    failures_to_come = 1
    call = TaskCall(flaky_task, (1,), name="flaky", group=None, keep_success=keep_success)
    enqueue_together([call])
    deliver(broker)
    make_claimable()
    deliver(broker)
    settled = Task.objects.get(name="flaky")
    assert (settled.success, settled.attempt_count, settled.result) == (True, 2, "done 1")
    assert not Failure.objects.exists()
    assert not OrmQ.objects.exists()


def test_a_task_is_given_up_after_max_attempts(
    broker: DatabaseBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    global failures_to_come
    failures_to_come = 5
    monkeypatch.setattr(Conf, "MAX_ATTEMPTS", 2)
    enqueue_together([TaskCall(flaky_task, (1,), name="doomed", group=None)])
    deliver(broker)
    make_claimable()
    deliver(broker)
    assert Failure.objects.get(name="doomed").attempt_count == 2
    assert not OrmQ.objects.exists()


# Configuration


@pytest.mark.parametrize(
    ("conf", "key"),
    [("BULK", "bulk"), ("POLL", "poll"), ("RETRY", "retry"), ("CLUSTER_NAME", "name")],
)
def test_conf_holds_the_cluster_settings_the_broker_reads(conf: str, key: str) -> None:
    assert getattr(Conf, conf) == settings.Q_CLUSTER[key]


def test_the_queue_lives_in_the_default_database() -> None:
    assert Conf.ORM == connection.alias == "default"


def test_the_migrations_depend_on_a_django_q2_migration_that_exists() -> None:
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(connection).graph
    assert ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more") in (
        graph.nodes
    )
