from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import audit, login_throttle, tasks  # noqa: F401 - their receivers
        from accounts.emails.messages import load_templates
        from taskqueue.status import count_successes_by_effect, label_task
        from taskqueue.workers import prepare_workers

        prepare_workers(load_templates)

        count_successes_by_effect(tasks.send_welcome_email, tasks.welcome_emails_sent_since)
        count_successes_by_effect(tasks.record_signup, tasks.signups_recorded_since)
        for task, label in [
            (tasks.send_welcome_email, _("Welcome email")),
            (tasks.send_verification_email, _("Verification email")),
            (tasks.send_password_reset_email, _("Password reset email")),
            (tasks.send_signup_attempt_email, _("Signup attempt notice")),
            (tasks.record_signup, _("Signup audit record")),
            (tasks.record_audit_event, _("Audit record")),
        ]:
            label_task(task, label)
