"""Failure records of tasks whose successes django-q2 does not save (TaskCall.keep_success)."""

from typing import Any

from django.db.models import F
from django.dispatch import receiver
from django_q.models import Task
from django_q.signals import post_execute


@receiver(post_execute)
def settle_earlier_failure(sender: str, task: dict[str, Any], **kwargs: Any) -> None:
    """Runs in the monitor after each result. django-q2 turns the failure record of a task into
    a success when a later attempt succeeds, but only for tasks whose results it saves; for the
    others this does it, so that a task that failed once and then succeeded is not listed among
    the failures (nor re-queued from there)."""
    if task.get("save", True) or not task["success"]:
        return
    Task.objects.filter(id=task["id"], success=False).update(
        success=True,
        stopped=task["stopped"],
        result=task["result"],
        attempt_count=F("attempt_count") + 1,
    )
