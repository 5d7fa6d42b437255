"""Confirming an email address with the link from the welcome or verification email."""

import enum

from django.db import transaction
from django.utils import timezone

from accounts.audit import queue_audit_event
from accounts.models import AuditRecord, User
from accounts.tokens import email_verification_token, user_from_uid


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
