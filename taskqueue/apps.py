from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    verbose_name = "Task queue"

    def ready(self) -> None:
        from taskqueue import context, results, retries  # noqa: F401 - their receivers
