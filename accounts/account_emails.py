"""Emails a person asks for (a new verification link, a password reset), and verification."""

import enum
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.audit import queue_audit_event
from accounts.models import AuditRecord, EmailRequest, User
from accounts.queueing import enqueue
from accounts.services import reject_control_characters
from accounts.throttle import record_email_request
from accounts.tokens import email_verification_token, user_from_uid

TASKS = {
    EmailRequest.Kind.VERIFICATION: "accounts.tasks.send_verification_email",
    EmailRequest.Kind.PASSWORD_RESET: "accounts.tasks.send_password_reset_email",
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


class Verification(enum.Enum):
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    INVALID = "invalid"


def verify_email(uidb64: str, token: str, *, ip_address: str | None) -> Verification:
    user = user_from_uid(uidb64)
    if user is None:
        return Verification.INVALID
    if user.is_email_verified:
        return Verification.ALREADY_VERIFIED
    if not email_verification_token.check_token(user, token):
        return Verification.INVALID
    with transaction.atomic():
        updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
            email_verified_at=timezone.now()
        )
        if not updated:  # verified by a concurrent request with the same link
            return Verification.ALREADY_VERIFIED
        queue_audit_event(
            AuditRecord.Action.EMAIL_VERIFIED, user=user, source="web", ip_address=ip_address
        )
    return Verification.VERIFIED
