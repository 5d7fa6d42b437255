"""Emails a person asks for (a new verification link, a password reset), limited per address and
per client; the answer is the same whether or not the address has an account."""

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import EmailRequest, User
from accounts.signup import reject_control_characters
from accounts.tasks import send_password_reset_email, send_verification_email
from accounts.throttle import record_email_request
from taskqueue.enqueue import enqueue

TASKS = {
    EmailRequest.Kind.VERIFICATION: send_verification_email,
    EmailRequest.Kind.PASSWORD_RESET: send_password_reset_email,
}


def request_account_email(kind: str, email: str, *, ip_address: str | None) -> None:
    """Queue the email if an account wants it; answer the same either way.

    Raises TooManyRequests (and records nothing) when the address or client is over its limit.
    """
    validate_email_address(email)
    with transaction.atomic():
        record_email_request(kind, email, ip_address)
        for user in accounts_wanting(kind, email):
            enqueue(
                TASKS[kind],
                user.pk,
                uuid.uuid4().hex,
                task_name=f"{kind.replace('_', '-')}-email-{user.pk}",
                group=kind,
            )


def validate_email_address(email: str) -> None:
    try:
        reject_control_characters(email)
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from exc


def accounts_wanting(kind: str, email: str) -> list[User]:
    accounts = User.objects.with_email(email).filter(is_active=True)
    if kind == EmailRequest.Kind.VERIFICATION:
        accounts = accounts.filter(email_verified_at__isnull=True)
    return list(accounts)
