from django.apps import AppConfig


class ThrottlingConfig(AppConfig):
    name = "throttling"
    verbose_name = "Rate limits"

    def ready(self) -> None:
        from taskqueue.status import label_task
        from throttling.limits import prune_counters

        label_task(prune_counters, "Pruning rate-limit counters")
