"""What happens in the minutes after signing up: the same form sent twice (a double click, a
reload) is answered with what its first submission made, not "already exists"; and the browser
that signed up can correct a mistyped address."""

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import queue_audit_event
from accounts.emails.requests import queue_account_email
from accounts.identity import clean_email, username_key
from accounts.models import AuditRecord, EmailDelivery, User
from accounts.signup import SignupConflict, notify_the_owner, sign_up
from accounts.throttle import check_password_as_log_in, cooldown_passed, limit_email_requests

# How long a form's first submission is remembered, and an address can be corrected.
FOLLOW_UP_WINDOW = timedelta(minutes=30)
SESSION_KEY = "signed_up"
IN_PROGRESS = "in-progress"
# How long a repeat waits for the first submission, still running, to finish.
FIRST_SUBMISSION_DEADLINE = 10.0


class SignedUp(TypedDict):
    """A signup, as the browser that made it remembers it. `id` is None for the answer given
    when the address is taken and signups do not reveal it (SIGNUP_REVEALS_TAKEN_EMAIL=False)."""

    id: int | None
    username: str
    email: str


def new_form_token() -> str:
    """Put in each signup form: its submissions are told apart from anybody else's by it."""
    return secrets.token_urlsafe(24)


def sign_up_once(form_token: str, remembered: SignedUp | None = None, **fields: Any) -> SignedUp:
    """sign_up(), where a second submission of the same form (with the same password) finds
    what the first one made, waiting for it if it is still running. The token is unguessable
    and in the page only. So is the same signup sent again from a new form by the browser
    that made it (`remembered`, from its session): Back reloads the form with a new token.
    Raises what sign_up() raises."""
    key = form_key(form_token)
    first = bool(form_token) and cache.add(key, IN_PROGRESS, FOLLOW_UP_WINDOW.total_seconds())
    try:
        user = sign_up(**fields)
    except SignupConflict:
        if first:
            cache.delete(key)
        earlier = (None if first else first_submission(key)) or remembered
        if earlier is None or not same_signup(earlier, fields):
            raise
        return earlier
    except BaseException:
        if first:
            cache.delete(key)
        raise
    signed_up = SignedUp(id=user.pk, username=user.username, email=user.email)
    cache.set(key, signed_up, FOLLOW_UP_WINDOW.total_seconds())
    return signed_up


def form_key(form_token: str) -> str:
    return "signup-form:" + hashlib.sha256(form_token.encode()).hexdigest()


def first_submission(key: str) -> SignedUp | None:
    deadline = time.monotonic() + FIRST_SUBMISSION_DEADLINE
    while (earlier := cache.get(key)) == IN_PROGRESS and time.monotonic() < deadline:
        time.sleep(0.05)
    return earlier if isinstance(earlier, dict) else None


def same_signup(earlier: SignedUp, fields: dict[str, Any]) -> bool:
    try:
        email = clean_email(fields["email"])
    except ValidationError:
        return False
    return (
        username_key(earlier["username"]) == username_key(fields["username"])
        and earlier["email"].lower() == email.lower()
        and same_password(earlier, fields.get("password"), fields.get("ip_address"))
    )


def same_password(earlier: SignedUp, password: str | None, ip_address: str | None) -> bool:
    """The form's token alone gives no right over the account it made: whoever read it (a
    shared browser, a page restored from history) must know its password too. The check is
    counted as a log-in is, and refused past the same limits (a right password gives its count
    back), so it is no way around them."""
    if earlier["id"] is None:  # taken addresses hidden: no account was made, nothing to take
        return True
    account = User.objects.filter(pk=earlier["id"]).first()
    if account is None or password is None:
        return False
    return check_password_as_log_in(account, password, ip_address) is True


def remember(request: HttpRequest, signed_up: SignedUp) -> None:
    """A new session key too: the session now holds a right over the new account."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = signed_up


def recall(request: HttpRequest) -> SignedUp | None:
    return request.session.get(SESSION_KEY)


@receiver(user_logged_in)
def forget_on_log_in(sender: type, request: HttpRequest | None, **kwargs: Any) -> None:
    """Whoever logs in next in this browser gets no right over the account it signed up."""
    if request is not None and hasattr(request, "session"):
        request.session.pop(SESSION_KEY, None)


def correct_signup_email(
    request: HttpRequest, email: str, *, password: str, ip_address: str | None
) -> bool:
    """Replace the address of the account this browser has just created, while it is not
    verified, and send the confirmation link to the new one, unless an email went to it less
    than EMAIL_REQUEST_COOLDOWN ago (then False: the person sends it again after that); the
    link sent to the old address stops working, as the verification token covers the address.
    The password chosen in the form is asked for: the browser's session alone, in a shared
    browser, would hand the account to whoever sat down next (a new address, then a password
    reset). Raises ValidationError keyed by "email" or "password", or RateLimited."""
    signed_up = recall(request)
    account = User.objects.filter(pk=signed_up["id"]).first() if signed_up else None
    if signed_up is None or (account is not None and not correctable(account)):
        raise too_late()
    if account is not None:
        check_account_password(account, password, ip_address)
    try:
        new_email = clean_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.error_list}) from exc
    if new_email.lower() == signed_up["email"].lower():
        message = _(
            "This is the address the email went to. Check your spam folder, or send it again."
        )
        raise ValidationError({"email": ValidationError(message, code="unchanged")})
    limit_email_requests(new_email, ip_address)
    sent = replace_email(account, new_email, ip_address=ip_address)
    request.session[SESSION_KEY] = {**signed_up, "email": new_email}
    return sent


def check_account_password(account: User, password: str, ip_address: str | None) -> None:
    """Held to the log-in limits, as every check of a password is."""
    checked = check_password_as_log_in(account, password, ip_address) if password else False
    if checked is None:
        message = _("Too many wrong passwords. Try again in a few minutes.")
        raise ValidationError({"password": ValidationError(message, code="locked")})
    if not checked:
        message = _("This is not the password you chose when you signed up.")
        raise ValidationError({"password": ValidationError(message, code="password_incorrect")})


def correctable(account: User) -> bool:
    """Not once the address is confirmed: it is the account's, and changing it is no typo fix."""
    recent = timezone.now() - account.date_joined < FOLLOW_UP_WINDOW
    return recent and not account.is_email_verified


def too_late() -> ValidationError:
    message = _("This address can no longer be changed here. Log in to your account.")
    return ValidationError({"email": ValidationError(message, code="too_late")})


def replace_email(account: User | None, new_email: str, *, ip_address: str | None) -> bool:
    """A taken address is answered as the signup answered it: with SIGNUP_REVEALS_TAKEN_EMAIL
    false, as if it had worked (its owner is told by email), so this form reveals no more. With
    no account (the signup itself was such an answer) there is nothing to change. Returns
    whether the confirmation went out (as far as the person can tell)."""
    taken = User.objects.with_email(new_email).exists()
    if taken and not settings.SIGNUP_REVEALS_TAKEN_EMAIL:
        notify_the_owner(new_email)
        return True
    message = _("An account with this email already exists.")
    if taken:
        raise ValidationError({"email": ValidationError(message, code="email_taken")})
    if account is None:  # answered as the real correction below would be
        return cooldown_passed(EmailDelivery.Kind.VERIFICATION, new_email)
    account.email = new_email
    try:
        with transaction.atomic():
            # Not if the old address was verified meanwhile (its link opened at this moment).
            changed = User.objects.filter(pk=account.pk, email_verified_at__isnull=True).update(
                email=new_email
            )
            if not changed:
                raise too_late()
            queue_audit_event(
                AuditRecord.Action.EMAIL_CORRECTED,
                user=account,
                source="web",
                ip_address=ip_address,
            )
            sent = cooldown_passed(EmailDelivery.Kind.VERIFICATION, new_email)
            if sent:
                queue_account_email(EmailDelivery.Kind.VERIFICATION, account)
    except IntegrityError as exc:
        raise ValidationError({"email": ValidationError(message, code="email_taken")}) from exc
    return sent
