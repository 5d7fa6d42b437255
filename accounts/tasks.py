"""The account's work done after the response by `manage.py qcluster` workers.

Each task takes ids and plain values, loads what it needs with its own database connection, and
guards its own effect, because django-q2 delivers at least once: a task whose worker dies, times
out or fails is delivered again after Q_CLUSTER["retry"] seconds. Their dotted paths are stored
in queued tasks: renaming one needs a migration (see taskqueue/migrations/0001).
"""

import logging
from datetime import datetime

from django.db import IntegrityError

from accounts.emails import outbox
from accounts.models import AuditRecord, EmailDelivery, User
from accounts.transactions import savepoint_if_in_transaction
from taskqueue.context import failures_logged

logger = logging.getLogger(__name__)


def send_welcome_email(user_id: int) -> str:
    with failures_logged("send_welcome_email", f"account {user_id}"):
        return outbox.send_welcome(user_id)


def send_verification_email(user_id: int, request_id: str) -> str:
    with failures_logged("send_verification_email", f"account {user_id}"):
        return outbox.send_verification(user_id, request_id)


def send_password_reset_email(user_id: int, request_id: str) -> str:
    with failures_logged("send_password_reset_email", f"account {user_id}"):
        return outbox.send_password_reset(user_id, request_id)


def send_signup_attempt_email(user_id: int, request_id: str) -> str:
    with failures_logged("send_signup_attempt_email", f"account {user_id}"):
        return outbox.send_signup_attempt(user_id, request_id)


def record_signup(
    user_id: int, source: str, ip_address: str | None, joined_at: str | None = None
) -> str:
    """`joined_at` is the account's date_joined (ISO 8601), given by the signup so that the
    record costs no read of the account; a task queued before it was given reads it."""
    with failures_logged("record_signup", f"account {user_id}"):
        occurred_at = (
            datetime.fromisoformat(joined_at)
            if joined_at
            else User.objects.values_list("date_joined", flat=True).get(pk=user_id)
        )
        return record_once(
            user_id=user_id,
            action=AuditRecord.Action.SIGNUP,
            source=source,
            ip_address=ip_address,
            occurred_at=occurred_at,
        )


def record_audit_event(
    event_id: str,
    action: str,
    user_id: int | None,
    username: str,
    source: str,
    ip_address: str | None,
    occurred_at: str,
) -> str:
    with failures_logged("record_audit_event", f"account {user_id}"):
        return record_once(
            event_id=event_id,
            user_id=user_id,
            username=username,
            action=action,
            source=source,
            ip_address=ip_address,
            occurred_at=datetime.fromisoformat(occurred_at),
        )


def record_once(**fields: object) -> str:
    """Write the record; a unique constraint turns a redelivery into a no-op."""
    try:
        with savepoint_if_in_transaction():
            record = AuditRecord.objects.create(**fields)
    except IntegrityError:
        if redelivered(fields):
            logger.info("%s of %s already recorded", fields["action"], whose(fields))
            return "already recorded"
        if account_deleted(fields["user_id"]):
            logger.info("%s of %s not recorded: it was deleted", fields["action"], whose(fields))
            return "account deleted"
        raise
    logger.info("%s of %s recorded", record.action, whose(fields))
    return "recorded"


def whose(fields: dict[str, object]) -> str:
    """For the log: a failed log-in may name no account."""
    if fields["user_id"] is not None:
        return f"account {fields['user_id']}"
    return f"unknown username {fields.get('username', '')!r}"


def account_deleted(user_id: object) -> bool:
    """Deleted before its record was written: there is nothing left to record it for."""
    return user_id is not None and not User.objects.filter(pk=user_id).exists()


def redelivered(fields: dict[str, object]) -> bool:
    if fields.get("event_id"):
        return AuditRecord.objects.filter(event_id=fields["event_id"]).exists()
    return AuditRecord.objects.filter(user_id=fields["user_id"], action=fields["action"]).exists()


def welcome_emails_sent_since(since: datetime) -> int:
    """The successes of send_welcome_email, whose results django-q2 does not keep."""
    return EmailDelivery.objects.filter(kind=EmailDelivery.Kind.WELCOME, sent_at__gte=since).count()


def signups_recorded_since(since: datetime) -> int:
    """The successes of record_signup, whose results django-q2 does not keep."""
    return AuditRecord.objects.filter(
        action=AuditRecord.Action.SIGNUP, recorded_at__gte=since
    ).count()
