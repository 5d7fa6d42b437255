"""Sets accounts.log.current_task while a worker runs a task, for the log lines it writes."""

from typing import Any

from django.dispatch import receiver
from django_q.signals import post_execute_in_worker, pre_execute

from accounts.log import current_task


@receiver(pre_execute)
def enter_task(sender: str, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    current_task.set(f"{task.get('name')} ({task.get('id')})")


@receiver(post_execute_in_worker)
def leave_task(sender: str, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    current_task.set("-")
