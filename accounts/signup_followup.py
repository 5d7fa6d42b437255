"""What a person can do in the minutes after signing up: submit the same form again without
being told their new account is someone else's, and correct a mistyped address."""

from datetime import timedelta

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.emails.requests import queue_account_email
from accounts.identity import clean_email
from accounts.models import EmailDelivery, User
from accounts.throttle import limit_email_requests

# How long after signing up a repeat of the same form is answered as the signup itself, and a
# mistyped address can be corrected from the page that follows.
FOLLOW_UP_WINDOW = timedelta(minutes=30)


def repeated_signup(
    request: HttpRequest, *, username: str, email: str, password: str
) -> User | None:
    """The account this very signup created moments ago (a double click, a reload after a slow
    answer): the same name, address and password. The password is checked by the log-in backend,
    so this is no way around the log-in limits."""
    account = User.objects.with_username(username).first()
    if account is None or not is_recent(account):
        return None
    try:
        same_email = clean_email(email).lower() == account.email.lower()
    except ValidationError:
        return None
    if not same_email:
        return None
    return authenticate(request, username=account.username, password=password)


def correct_signup_email(account: User, email: str, *, ip_address: str | None) -> None:
    """Replace the address of an account that has just been created and never verified, and send
    the confirmation link to the new one; the link sent to the old address stops working, as the
    verification token covers the address. Raises ValidationError keyed by "email", or
    RateLimited."""
    if account.is_email_verified or not is_recent(account):
        raise ValidationError(
            {"email": _("This address can no longer be changed here. Log in to your account.")},
            code="too_late",
        )
    try:
        new_email = clean_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from exc
    limit_email_requests(new_email, ip_address)
    if new_email.lower() == account.email.lower():
        return
    taken = ValidationError(
        {"email": _("An account with this email already exists.")}, code="email_taken"
    )
    if User.objects.with_email(new_email).exists():
        raise taken
    account.email = new_email
    try:
        with transaction.atomic():
            account.save(update_fields=["email"])
            queue_account_email(EmailDelivery.Kind.VERIFICATION, account)
    except IntegrityError as exc:
        raise taken from exc


def is_recent(account: User) -> bool:
    return timezone.now() - account.date_joined < FOLLOW_UP_WINDOW
