from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from taskqueue.status import label_task
        from webhooks.delivery import deliver_webhook

        label_task(deliver_webhook, _("Signup webhook"))
