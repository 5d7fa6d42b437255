"""Confirming an email address with the link from the welcome or verification email."""

import enum

from django.db import transaction
from django.utils import timezone

from accounts.audit import queue_audit_event
from accounts.models import AuditRecord, User
from accounts.tokens import email_verification_token, user_from_uid


def link_made_for(user: User, token: str) -> bool:
    """Links are made while the address waits for verification; a used one still checks out
    against that state, so that it can say "already verified"."""
    return email_verification_token.check_token(copy(user, email_verified_at=None), token)


def copy(user: User, **changes: object) -> User:
    clone = User(**{field.attname: getattr(user, field.attname) for field in User._meta.fields})
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone


class Verification(enum.Enum):
    PENDING = "pending"  # a good link, not yet confirmed
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    INVALID = "invalid"


def check_link(uidb64: str, token: str) -> tuple[User | None, Verification]:
    """What the link would do, changing nothing: opening it only asks to confirm, so that a
    mail scanner or a link preview fetching it verifies nothing. The token is checked first, so
    that a wrong one answers the same for every account: the link reveals nothing about an
    account it was not made for."""
    user = user_from_uid(uidb64)
    if user is None or not link_made_for(user, token):
        return None, Verification.INVALID
    if user.is_email_verified:
        return user, Verification.ALREADY_VERIFIED
    return user, Verification.PENDING


def verify_email(
    uidb64: str, token: str, *, ip_address: str | None
) -> tuple[User | None, Verification]:
    """Only the address the link was made for is verified: one corrected at the same moment
    leaves the link void (the token covers the address, and so does the UPDATE)."""
    user, outcome = check_link(uidb64, token)
    if user is None or outcome is not Verification.PENDING:
        return user, outcome
    if mark_verified(user, ip_address=ip_address):
        return user, Verification.VERIFIED
    # Verified by a concurrent request, or the address was just corrected.
    return check_link(uidb64, token)


def mark_verified(user: User, *, ip_address: str | None) -> bool:
    """The address `user` was loaded with, if it is still the account's and unverified; with
    its audit record. Also for a password set from a reset link: that link went to the address
    too (Django's reset token covers it), which proves the inbox as well."""
    with transaction.atomic():
        updated = User.objects.filter(
            pk=user.pk, email=user.email, email_verified_at__isnull=True
        ).update(email_verified_at=timezone.now())
        if updated:
            queue_audit_event(
                AuditRecord.Action.EMAIL_VERIFIED, user=user, source="web", ip_address=ip_address
            )
    return bool(updated)
