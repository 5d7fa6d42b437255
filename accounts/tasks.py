"""Work done after the response by `manage.py qcluster` workers.

Each task takes ids and plain values, loads what it needs with its own database connection, and
guards its own effect, because django-q2 delivers at least once: a task whose worker dies, times
out or fails is delivered again after Q_CLUSTER["retry"] seconds.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.models import Success

from accounts import emails, mailer, webhooks
from accounts.models import AuditRecord, EmailDelivery, User

logger = logging.getLogger(__name__)


@contextmanager
def failures_logged(task: str, user_id: int | None) -> Iterator[None]:
    """Log a failure with the account id, then let django-q2 record it as a failed attempt."""
    try:
        yield
    except Exception:
        logger.exception("%s failed for account %s", task, user_id)
        raise


def send_welcome_email(user_id: int) -> str:
    return send_once(
        "send_welcome_email", user_id, EmailDelivery.Kind.WELCOME, emails.welcome_email
    )


def send_verification_email(user_id: int, request_id: str) -> str:
    return send_once(
        "send_verification_email",
        user_id,
        EmailDelivery.Kind.VERIFICATION,
        lambda user: (
            None if user.is_email_verified else emails.verification_email(user, request_id)
        ),
    )


def send_password_reset_email(user_id: int, request_id: str) -> str:
    return send_once(
        "send_password_reset_email",
        user_id,
        EmailDelivery.Kind.PASSWORD_RESET,
        lambda user: emails.password_reset_email(user, request_id),
    )


def send_once(
    task: str,
    user_id: int,
    kind: str,
    build: Callable[[User], EmailMultiAlternatives | None],
) -> str:
    """Send the email `build` makes, unless one with its Message-ID was already sent.

    Where the database has row locks (PostgreSQL), the account's row stays locked while the
    email is handed over, so a concurrent second delivery of the task waits and then sees the
    first one's EmailDelivery row. The lock is FOR NO KEY UPDATE, which does not block rows that
    merely reference the account, such as the audit record written at the same time. SQLite has
    only a database-wide write lock, which must not be held for an SMTP conversation: there the
    check and the record bracket the send instead.
    `build` returns None when the email is no longer wanted.
    """
    with failures_logged(task, user_id), account_lock_scope():
        user = locked_account(user_id)
        if user is None:
            logger.warning("%s skipped: account %s no longer exists", task, user_id)
            return "account deleted"
        message = build(user)
        if message is None:
            logger.info("%s skipped for account %s: no longer needed", task, user_id)
            return "not needed"
        message_id = message.extra_headers["Message-ID"]
        if EmailDelivery.objects.filter(message_id=message_id).exists():
            logger.info("%s for account %s already sent as %s", task, user_id, message_id)
            return "already sent"
        mailer.send(message)
        record_delivery(user, kind, message_id)
    logger.info("%s for account %s sent as %s", task, user_id, message_id)
    return f"sent {message_id}"


def account_lock_scope() -> AbstractContextManager[object]:
    return transaction.atomic() if connection.features.has_select_for_update else nullcontext()


def locked_account(user_id: int) -> User | None:
    accounts = User.objects.filter(pk=user_id)
    if connection.features.has_select_for_update:
        accounts = accounts.select_for_update(no_key=True)
    return accounts.first()


def savepoint_if_in_transaction() -> AbstractContextManager[object]:
    """An insert that may fail on a unique constraint must not break a caller's transaction.
    A worker runs in autocommit, where the insert needs no transaction of its own (on
    PostgreSQL that would be a BEGIN and a COMMIT: two more round trips for every task)."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def record_delivery(user: User, kind: str, message_id: str) -> None:
    """Where the account is locked (PostgreSQL) no other delivery can have recorded this email
    meanwhile. Without row locks one can, and the unique Message-ID turns it away."""
    if connection.features.has_select_for_update:
        EmailDelivery.objects.create(user=user, kind=kind, message_id=message_id)
        return
    try:
        with savepoint_if_in_transaction():
            EmailDelivery.objects.create(user=user, kind=kind, message_id=message_id)
    except IntegrityError:
        logger.warning("%s to account %s was sent twice (same Message-ID)", message_id, user.pk)


def record_signup(user_id: int, source: str, ip_address: str | None) -> str:
    with failures_logged("record_signup", user_id):
        user = User.objects.get(pk=user_id)
        return record_once(
            user=user,
            action=AuditRecord.Action.SIGNUP,
            source=source,
            ip_address=ip_address,
            occurred_at=user.date_joined,
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
    with failures_logged("record_audit_event", user_id):
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
        if not redelivered(fields):
            raise
        logger.info("%s of account %s already recorded", fields["action"], account_of(fields))
        return "already recorded"
    logger.info("%s of account %s recorded", record.action, account_of(fields))
    return "recorded"


def redelivered(fields: dict[str, object]) -> bool:
    if fields.get("event_id"):
        return AuditRecord.objects.filter(event_id=fields["event_id"]).exists()
    return AuditRecord.objects.filter(user=fields["user"], action=fields["action"]).exists()


def account_of(fields: dict[str, object]) -> object:
    user = fields.get("user")
    return user.pk if isinstance(user, User) else fields.get("user_id")


def deliver_webhook(delivery_id: int, attempt: int) -> str:
    with failures_logged("deliver_webhook", None):
        return webhooks.attempt_delivery(delivery_id, attempt)


def prune_task_results() -> str:
    """Delete successful task results older than TASK_RESULT_RETENTION_HOURS; keep failures.

    Scheduled hourly (migration 0002), instead of django-q2's save_limit, which prunes on every
    saved result under a lock on all results and so throttles the whole cluster.
    """
    cutoff = timezone.now() - timedelta(hours=settings.TASK_RESULT_RETENTION_HOURS)
    deleted, _ = Success.objects.filter(stopped__lt=cutoff).delete()
    logger.info("pruned %s task results older than %s", deleted, cutoff.isoformat())
    return f"pruned {deleted}"
