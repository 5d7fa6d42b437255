"""An account's whole story, for support: "did alice get her email, and if not, why?"."""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import User
from taskqueue.status import failed_attempts, task_history, task_label


@dataclass(frozen=True)
class Event:
    when: datetime
    what: str
    detail: str = ""


def task_names(user: User) -> list[str]:
    """The names the portal gives the tasks it queues for an account."""
    pk = user.pk
    return [
        f"welcome-email-{pk}",
        f"record-signup-{pk}",
        f"verification-email-{pk}",
        f"password-reset-email-{pk}",
        f"signup-attempt-email-{pk}",
        f"webhook-{pk}-1",
    ]


def account_story(user: User) -> list[Event]:
    """Every event of the account, oldest first."""
    events = [Event(user.date_joined, "Account created", f"username {user.username}")]
    for record in user.audit_records.all():
        where = " ".join(part for part in (record.source, record.ip_address or "") if part)
        events.append(Event(record.occurred_at, record.get_action_display(), where))
    for delivery in user.email_deliveries.all():
        took = f", accepted in {delivery.handover_ms} ms" if delivery.handover_ms else ""
        events.append(
            Event(
                delivery.sent_at,
                f"{delivery.get_kind_display()} email sent",
                delivery.message_id + took,
            )
        )
    for task in task_history(task_names(user)):
        events.append(Event(task["stopped"], f"{task['task']}: {outcome(task)}", task["error"]))
    for attempt in failed_attempts(task_names(user)):
        events.append(
            Event(attempt.failed_at, f"{task_label(attempt.func)}: attempt failed", attempt.error)
        )
    for webhook in user.webhook_deliveries.prefetch_related("attempts"):
        for attempt in webhook.attempts.all():
            answer = attempt.status_code or attempt.error
            events.append(
                Event(attempt.attempted_at, f"Webhook attempt {attempt.number}", str(answer))
            )
    return sorted(events, key=lambda event: event.when)


def outcome(task: dict) -> str:
    if task["succeeded"]:
        return "done" if task["attempts"] <= 1 else f"done at attempt {task['attempts']}"
    if task["next_attempt"]:
        next_attempt = f"{task['next_attempt']:%Y-%m-%d %H:%M:%S} UTC"
        return f"attempt {task['attempts']} failed, next at {next_attempt}"
    return f"failed for good after {task['attempts']} attempt(s)"
