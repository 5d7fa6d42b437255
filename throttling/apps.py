from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ThrottlingConfig(AppConfig):
    name = "throttling"
    verbose_name = "Rate limits"

    def ready(self) -> None:
        from taskqueue.status import label_task
        from throttling.limits import prune_counters

        label_task(prune_counters, _("Pruning rate-limit counters"))
