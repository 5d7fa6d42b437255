"""Putting failed tasks back on the queue, for operators (admin action and management command)."""

import logging

from django.db import transaction
from django.db.models import QuerySet
from django_q.models import Failure

from accounts.queueing import enqueue

logger = logging.getLogger(__name__)


def requeue_failed_tasks(failures: QuerySet[Failure]) -> int:
    """Queue each failed task again under its own name, and drop its failure record.

    Both happen in one transaction with the ORM broker, so a task is never queued twice nor
    lost. The tasks guard their own effects, so re-queueing one that did its work is harmless.
    """
    count = 0
    with transaction.atomic():
        for failure in failures.select_for_update():
            enqueue(
                failure.func,
                *(failure.args or ()),
                task_name=failure.name,
                group=failure.group,
                **(failure.kwargs or {}),
            )
            logger.info("re-queued failed task %s (%s)", failure.name, failure.id)
            failure.delete()
            count += 1
    return count
