"""Emails a person asks for (a new verification link, a password reset), limited per client and
per address; the answer is the same whether or not the address has an account."""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.identity import clean_email
from accounts.models import EmailDelivery, User
from accounts.tasks import send_password_reset_email, send_verification_email
from accounts.throttle import email_may_go_out
from taskqueue.enqueue import enqueue

TASKS = {
    EmailDelivery.Kind.VERIFICATION: send_verification_email,
    EmailDelivery.Kind.PASSWORD_RESET: send_password_reset_email,
}


def request_account_email(kind: str, email: str, *, ip_address: str | None) -> None:
    """Queue the email if an account wants it; answer the same either way.

    Raises RateLimited when the client is over its limits (accounts.throttle).
    """
    try:
        email = clean_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from exc
    if not email_may_go_out(kind, email, ip_address):
        return
    with transaction.atomic():
        for user in accounts_wanting(kind, email):
            queue_account_email(kind, user)


def queue_account_email(kind: str, user: User) -> None:
    """A new verification or reset email for the account; its own request id, so its own
    Message-ID."""
    enqueue(
        TASKS[kind],
        user.pk,
        uuid.uuid4().hex,
        task_name=f"{kind.replace('_', '-')}-email-{user.pk}",
        group=kind,
    )


def accounts_wanting(kind: str, email: str) -> list[User]:
    accounts = User.objects.with_email(email).filter(is_active=True)
    if kind == EmailDelivery.Kind.VERIFICATION:
        accounts = accounts.filter(email_verified_at__isnull=True)
    return list(accounts)
