"""Emails a person asks for (a new verification link, a password reset), limited per client and
per address; the answer is the same whether or not the address has an account."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models, transaction

from accounts.identity import canonical_email
from accounts.models import User
from accounts.signup import reject_control_characters
from accounts.tasks import send_password_reset_email, send_verification_email
from accounts.throttle import limit_email_requests
from taskqueue.enqueue import enqueue


class EmailKind(models.TextChoices):
    VERIFICATION = "verification", "Email verification"
    PASSWORD_RESET = "password_reset", "Password reset"


TASKS = {
    EmailKind.VERIFICATION: send_verification_email,
    EmailKind.PASSWORD_RESET: send_password_reset_email,
}


def request_account_email(kind: str, email: str, *, ip_address: str | None) -> None:
    """Queue the email if an account wants it; answer the same either way.

    Raises RateLimited when the client is over its limits (accounts.throttle).
    """
    email = validate_email_address(email)
    if not limit_email_requests(kind, email, ip_address):
        return
    with transaction.atomic():
        for user in accounts_wanting(kind, email):
            enqueue(
                TASKS[kind],
                user.pk,
                uuid.uuid4().hex,
                task_name=f"{kind.replace('_', '-')}-email-{user.pk}",
                group=kind,
            )


def validate_email_address(email: str) -> str:
    """The address in canonical form, as accounts store it."""
    try:
        reject_control_characters(email)
        return canonical_email(email.strip())
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from exc


def accounts_wanting(kind: str, email: str) -> list[User]:
    accounts = User.objects.with_email(email).filter(is_active=True)
    if kind == EmailKind.VERIFICATION:
        accounts = accounts.filter(email_verified_at__isnull=True)
    return list(accounts)
