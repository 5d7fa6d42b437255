"""What a worker's log lines say about the task they come from."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import receiver
from django_q.signals import post_execute_in_worker, pre_execute

from taskqueue.current import current_task

logger = logging.getLogger(__name__)


@receiver(pre_execute)
def enter_task(sender: str, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """Every line the task logs names it (the log filter operations.log.TaskContextFilter)."""
    current_task.set(f"{task.get('name')} ({task.get('id')})")


@receiver(post_execute_in_worker)
def leave_task(sender: str, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    current_task.set("-")


@contextmanager
def failures_logged(task: str, subject: str) -> Iterator[None]:
    """Log a failure with what it concerns ("account 3"), then let django-q2 record it as a
    failed attempt: its own log line carries the traceback, so this one does not."""
    try:
        yield
    except Exception as exc:
        logger.warning("%s failed for %s: %r", task, subject, exc)
        raise
