from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from taskqueue.status import label_task
        from webhooks.delivery import deliver_webhook

        label_task(deliver_webhook, "Signup webhook")
