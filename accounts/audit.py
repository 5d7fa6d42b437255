"""Queueing audit records for events other than the signup (which sign_up queues itself)."""

import uuid
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.http import client_ip
from accounts.models import AuditRecord, User
from accounts.tasks import record_audit_event
from accounts.throttle import LOGIN_LOCKED
from taskqueue.enqueue import enqueue


def queue_audit_event(
    action: str,
    *,
    user: User | None,
    source: str,
    ip_address: str | None,
    username: str = "",
) -> None:
    """The event id makes the record idempotent under redelivery."""
    enqueue(
        record_audit_event,
        uuid.uuid4().hex,
        action,
        user.pk if user else None,
        username or (user.username if user else ""),
        source,
        ip_address,
        timezone.now().isoformat(),
        task_name=f"audit-{action}-{user.pk if user else 'unknown'}",
        group="audit",
    )


@receiver(user_logged_in)
def record_login(sender: type, request: HttpRequest, user: User, **kwargs: Any) -> None:
    queue_audit_event(
        AuditRecord.Action.LOGIN, user=user, source="web", ip_address=client_ip(request)
    )


@receiver(user_login_failed)
def record_failed_login(
    sender: str, credentials: dict[str, str], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Django passes the credentials with the password already masked; only the name is kept.
    A log-in refused by a lock is not a new failure (accounts.login_throttle)."""
    if request is not None and hasattr(request, LOGIN_LOCKED):
        return
    username = str(credentials.get("username", ""))[:150]
    user = User.objects.with_username(username).first() if username else None
    queue_audit_event(
        AuditRecord.Action.LOGIN_FAILED,
        user=user,
        username=username,
        source="web",
        ip_address=client_ip(request) if request else None,
    )


def record_password_changed(request: HttpRequest, user: User) -> None:
    """From a reset link or from the account page: both say who changed it, from where."""
    queue_audit_event(
        AuditRecord.Action.PASSWORD_CHANGED,
        user=user,
        source="web",
        ip_address=client_ip(request),
    )
