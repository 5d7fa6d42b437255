"""Each worker process prepares what its tasks need before its first task (taskqueue.workers),
so that the first emails after a cluster starts are not the slowest."""

import logging
from collections.abc import Callable, Iterator

import pytest
from django.template import engines
from django_q.signals import post_spawn

from taskqueue import workers
from tests.support import QCluster, wait_for


@pytest.fixture
def empty_template_cache() -> Iterator[None]:
    cache = engines["jinja2"].env.cache
    kept = dict(cache.items())
    cache.clear()
    yield
    for key, template in kept.items():
        cache[key] = template


def cached_template_names() -> set[str]:
    return {name for _loader, name in engines["jinja2"].env.cache}


def test_a_new_worker_has_every_email_template_compiled_before_its_first_task(
    empty_template_cache: None,
) -> None:
    post_spawn.send(sender="django_q", proc_name="Process-1")
    assert {
        "emails/layout.html",
        "emails/footer.txt",
        "emails/welcome.html",
        "emails/welcome.txt",
        "emails/verification.html",
        "emails/password_reset.txt",
        "emails/signup_attempt.html",
    } <= cached_template_names()


def test_a_failing_preparation_is_logged_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("no templates today")

    monkeypatch.setattr(workers, "preparations", [broken, lambda: ran.append("next")])
    with caplog.at_level(logging.INFO, logger="taskqueue.workers"):
        post_spawn.send(sender="django_q", proc_name="Process-1")
    assert ran == ["next"]
    assert "preparing worker Process-1: test_a_failing_preparation" in caplog.text
    assert "no templates today" in caplog.text
    assert "Process-1 prepared for its first task" in caplog.text


@pytest.mark.integration
def test_every_worker_of_a_real_cluster_is_prepared_without_error(
    start_qcluster: Callable[..., QCluster],
) -> None:
    cluster = start_qcluster(Q_WORKERS="2")
    wait_for(
        lambda: cluster.log().count("prepared for its first task") == 2,
        message="both workers to say they are prepared",
    )
    # Not the word alone: django-q2 names a cluster at random ("early-pasta-failed-whiskey").
    assert "preparing worker" not in cluster.log(), cluster.log()
    assert " ERROR " not in cluster.log(), cluster.log()
