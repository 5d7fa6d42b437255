from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    verbose_name = "Task queue"

    def ready(self) -> None:
        from taskqueue import context, results, retries, workers  # noqa: F401 - their receivers
        from taskqueue.status import label_task

        label_task(results.prune_task_results, _("Pruning old task results"))
        label_task(results.sample_queue, _("Sampling the queue"))
