"""Work done after the response by `manage.py qcluster` workers.

Each task takes ids and plain values, loads what it needs with its own database connection, and
guards its own effect, because django-q2 delivers at least once: a task whose worker dies, times
out or fails is delivered again after Q_CLUSTER["retry"] seconds.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Success

from accounts.emails import welcome_email
from accounts.models import AuditRecord, EmailDelivery, User

logger = logging.getLogger(__name__)


@contextmanager
def failures_logged(task: str, user_id: int) -> Iterator[None]:
    """Log a failure with the account id, then let django-q2 record it as a failed attempt."""
    try:
        yield
    except Exception:
        logger.exception("%s failed for account %s", task, user_id)
        raise


def send_welcome_email(user_id: int) -> str:
    with failures_logged("send_welcome_email", user_id), transaction.atomic():
        # The row lock makes a second delivery of this task wait, then see the first one's record.
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            logger.warning("welcome email skipped: account %s no longer exists", user_id)
            return "account deleted"
        if EmailDelivery.objects.filter(user=user, kind=EmailDelivery.Kind.WELCOME).exists():
            logger.info("welcome email for account %s already sent", user_id)
            return "already sent"
        message = welcome_email(user)
        message.send()
        message_id = message.extra_headers["Message-ID"]
        EmailDelivery.objects.create(
            user=user, kind=EmailDelivery.Kind.WELCOME, message_id=message_id
        )
    logger.info("welcome email for account %s sent as %s", user_id, message_id)
    return f"sent {message_id}"


def record_signup(user_id: int, source: str, ip_address: str | None) -> str:
    with failures_logged("record_signup", user_id):
        user = User.objects.get(pk=user_id)
        try:
            with transaction.atomic():
                AuditRecord.objects.create(
                    user=user,
                    action=AuditRecord.Action.SIGNUP,
                    source=source,
                    ip_address=ip_address,
                    occurred_at=user.date_joined,
                )
        except IntegrityError:
            # The one-signup-record-per-user constraint: this is a redelivery.
            if not AuditRecord.objects.filter(user=user, action=AuditRecord.Action.SIGNUP).exists():
                raise
            logger.info("signup of account %s already recorded", user_id)
            return "already recorded"
    logger.info("signup of account %s recorded", user_id)
    return "recorded"


def prune_task_results() -> str:
    """Delete successful task results older than TASK_RESULT_RETENTION_HOURS; keep failures.

    Scheduled hourly (migration 0002), instead of django-q2's save_limit, which prunes on every
    saved result under a lock on all results and so throttles the whole cluster.
    """
    cutoff = timezone.now() - timedelta(hours=settings.TASK_RESULT_RETENTION_HOURS)
    deleted, _ = Success.objects.filter(stopped__lt=cutoff).delete()
    logger.info("pruned %s task results older than %s", deleted, cutoff.isoformat())
    return f"pruned {deleted}"
