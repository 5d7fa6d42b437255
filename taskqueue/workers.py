"""What each worker process does once, before it takes its first task.

A new worker process has not yet imported the URLconf (which `reverse()` needs for the links
in an email), compiled a template or opened its database connection: its first task paid
about 100 ms for that, against 7 ms warm (bench/README.md), so the first emails after a
cluster starts, or after a worker is recycled, were the slowest. django-q2 sends `post_spawn`
in each worker before it reads the task queue; that is when this runs.

Apps register what their own tasks need with `prepare_workers()` (accounts loads its email
templates and the catalogs of the languages they are written in).
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.dispatch import receiver
from django.urls import get_resolver
from django_q.conf import Conf
from django_q.signals import post_spawn

logger = logging.getLogger(__name__)

preparations: list[Callable[[], object]] = []


def prepare_workers(preparation: Callable[[], object]) -> None:
    """Run `preparation()` in every worker process before its first task."""
    preparations.append(preparation)


@receiver(post_spawn)
def prepare_worker(sender: str, proc_name: str, **kwargs: Any) -> None:
    """A failed preparation is logged and the worker starts anyway: its first task then pays
    the cost, or meets the same error where the task's retries handle it. In sync mode (tests)
    django-q2 runs its worker function in the caller for each task: nothing to prepare there."""
    if Conf.SYNC:
        return
    started = time.monotonic()
    for step in [load_urlconf, connect_to_queue_database, *preparations]:
        try:
            step()
        except Exception:
            name = getattr(step, "__qualname__", repr(step))
            logger.exception("preparing worker %s: %s failed", proc_name, name)
    elapsed_ms = (time.monotonic() - started) * 1000
    logger.info("%s prepared for its first task in %.0f ms", proc_name, elapsed_ms)


def load_urlconf() -> None:
    """Import the URLconf and build its reverse index, as the first reverse() would."""
    get_resolver().reverse_dict  # noqa: B018 - a property that populates the resolver


def connect_to_queue_database() -> None:
    connections[Conf.ORM].ensure_connection()
