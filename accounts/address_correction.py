"""A mistyped address, corrected from the success page by the browser that signed up, within
FOLLOW_UP_WINDOW, while the address is unverified, with the password chosen in the form."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import queue_audit_event
from accounts.emails.requests import queue_account_email
from accounts.identity import clean_email
from accounts.models import AuditRecord, EmailDelivery, User
from accounts.signup import (
    SignupConflict,
    create_account,
    notify_the_owner,
    tell_the_owner,
    validate_account,
)
from accounts.signup_followup import (
    FOLLOW_UP_WINDOW,
    SESSION_KEY,
    HeldSignup,
    SignedUp,
    recall,
    signed_up_as,
)
from accounts.throttle import (
    cooldown_passed,
    limit_email_requests,
    refuse_wrong_password,
    release_username,
)


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
    owner = signed_up_as(signed_up) if signed_up else None
    if owner is None or not correctable(owner):
        raise too_late()
    check_password(owner, password, ip_address)
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
    remembered: SignedUp = {**signed_up, "email": new_email}
    if answered_as_taken(new_email):
        sent = True
    elif isinstance(owner, HeldSignup):
        account = make_the_account_meant(owner, new_email, ip_address=ip_address)
        if account is not None:
            remembered = SignedUp(id=account.pk, username=account.username, email=account.email)
        sent = cooldown_passed(EmailDelivery.Kind.VERIFICATION, new_email)
    else:
        sent = replace_email(owner, new_email, ip_address=ip_address)
    request.session[SESSION_KEY] = remembered
    return sent


def check_password(owner: User | HeldSignup, password: str, ip_address: str | None) -> None:
    """Held to the log-in limits, as every check of a password is; an empty one is not
    counted."""
    if not password:
        raise ValidationError(
            {"password": ValidationError(_("This field is required."), code="required")}
        )
    wrong = _("This is not the password you chose when you signed up.")
    try:
        refuse_wrong_password(owner, password, ip_address, wrong=wrong)
    except ValidationError as refused:
        raise ValidationError({"password": refused}) from None


def correctable(owner: User | HeldSignup) -> bool:
    """Within FOLLOW_UP_WINDOW of the signup, whether it made an account or was only answered
    as if it had (alike, so that this tells nothing); and not once the address is confirmed:
    it is the account's, and changing it is no typo fix."""
    if isinstance(owner, HeldSignup):
        answered_at = owner.answered_at
        return answered_at is not None and timezone.now() - answered_at < FOLLOW_UP_WINDOW
    recent = timezone.now() - owner.date_joined < FOLLOW_UP_WINDOW
    return recent and not owner.is_email_verified


def too_late() -> ValidationError:
    message = _("This address can no longer be changed here. Log in to your account.")
    return ValidationError({"email": ValidationError(message, code="too_late")})


def answered_as_taken(new_email: str) -> bool:
    """A taken address is answered as a signup answers it: refused, or, with
    SIGNUP_REVEALS_TAKEN_EMAIL false, as if it had worked (its owner is told by email), so this
    form reveals no more than the signup form."""
    if not User.objects.with_email(new_email).exists():
        return False
    if settings.SIGNUP_REVEALS_TAKEN_EMAIL:
        raise taken()
    notify_the_owner(new_email)
    return True


def taken() -> ValidationError:
    message = _("An account with this email already exists.")
    return ValidationError({"email": ValidationError(message, code="email_taken")})


def make_the_account_meant(
    held: HeldSignup, new_email: str, *, ip_address: str | None
) -> User | None:
    """A signup answered as made, with taken addresses hidden, whose address was someone
    else's (a typo): corrected to a free one, it makes the account the person meant, with the
    name held for it and the password they chose, and sends its welcome email. The signup was
    counted against the client's limit when it was made. None if the address was taken in the
    meantime (its owner is told, as the signup's was)."""
    user = validate_account(
        username=held.username, email=new_email, password=None, password_confirmation=None
    )
    user.password = held.password_hash
    release_username(held.username)
    try:
        create_account(user, source="web", ip_address=ip_address)
    except SignupConflict:
        tell_the_owner(user.username, user.email)
        return None
    return user


def replace_email(account: User, new_email: str, *, ip_address: str | None) -> bool:
    """Returns whether the confirmation went out."""
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
        raise taken() from exc
    return sent
