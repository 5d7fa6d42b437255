from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import audit, login_throttle, tasks  # noqa: F401 - their receivers
        from taskqueue.status import count_successes_by_effect

        count_successes_by_effect(tasks.send_welcome_email, tasks.welcome_emails_sent_since)
        count_successes_by_effect(tasks.record_signup, tasks.signups_recorded_since)
