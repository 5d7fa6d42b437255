"""The signup use case, shared by the HTML form and the JSON API so that the two cannot drift."""

import logging
import unicodedata
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.identity import canonical_email, reject_look_alikes
from accounts.models import User
from accounts.tasks import record_signup, send_signup_attempt_email, send_welcome_email
from accounts.throttle import cooldown_passed, limit_signups
from taskqueue.enqueue import TaskCall, enqueue, enqueue_together
from webhooks.delivery import queue_signup_webhook

logger = logging.getLogger(__name__)


class SignupConflict(Exception):
    """The username or email already belongs to an account."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.code = f"{field}_taken"
        self.message = f"An account with this {field} already exists."
        super().__init__(self.message)


def sign_up(
    *,
    username: str,
    email: str,
    password: str | None,
    source: str,
    ip_address: str | None = None,
    password_confirmation: str | None = None,
) -> User:
    """Create an account and queue its welcome email, its audit record and, when
    SIGNUP_WEBHOOK_URL is set, its webhook event, atomically.

    With django-q2's ORM broker the queue is a table in the same database, so the account row and
    the task rows commit together: a signup that rolls back queues nothing, and one that commits
    has its tasks queued even if this process dies right after the commit. A ``password`` of None
    creates an account with an unusable password; a ``password_confirmation`` (the form's) must
    match it. Raises ValidationError (a dict keyed by field, every problem at once),
    SignupConflict, or RateLimited past SIGNUPS_PER_CLIENT_HOURLY from `ip_address`.

    With SIGNUP_REVEALS_TAKEN_EMAIL=False a taken address raises nothing: the account returned
    is not saved (its pk is None) and the address's owner is told by email instead.
    """
    user = validate_account(
        username=username,
        email=email,
        password=password,
        password_confirmation=password_confirmation,
    )
    limit_signups(ip_address)
    hash_password(user, password)
    try:
        create_account(user, source=source, ip_address=ip_address)
    except SignupConflict as conflict:
        if conflict.field != "email" or settings.SIGNUP_REVEALS_TAKEN_EMAIL:
            raise
        tell_the_owner(user.email)
    return user


def create_account(user: User, *, source: str, ip_address: str | None) -> None:
    reject_taken(user)
    try:
        with transaction.atomic():
            user.save()
            queue_signup_tasks(user, source=source, ip_address=ip_address)
    except IntegrityError as exc:
        # Another request took the name between reject_taken() and the insert.
        raise conflict_from(exc) from exc
    logger.info("account %s created via %s", user.pk, source)


def tell_the_owner(email: str) -> None:
    """With SIGNUP_REVEALS_TAKEN_EMAIL=False a signup with a taken address is answered as if it
    succeeded, and the address's owner gets an email saying so (at most one per cooldown)."""
    owner = User.objects.with_email(email).first()
    if owner is None or not cooldown_passed("signup_attempt", owner.email):
        return
    enqueue(
        send_signup_attempt_email,
        owner.pk,
        uuid.uuid4().hex,
        task_name=f"signup-attempt-email-{owner.pk}",
        group="signup_attempt",
    )
    logger.info("signup with the address of account %s answered as created", owner.pk)


def build_account(
    *, username: str, email: str, password: str | None, password_confirmation: str | None = None
) -> User:
    """Validate, then hash the password, outside any transaction (the benchmark's baseline)."""
    user = validate_account(
        username=username,
        email=email,
        password=password,
        password_confirmation=password_confirmation,
    )
    hash_password(user, password)
    return user


def hash_password(user: User, password: str | None) -> None:
    """Here, before any transaction opens: Argon2 takes a tenth of a second on purpose."""
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)


def validate_account(
    *, username: str, email: str, password: str | None, password_confirmation: str | None
) -> User:
    """The unsaved account with normalised fields; raises ValidationError keyed by field."""
    user = User(username=User.normalize_username(username), email=email.strip())
    checks: dict[str, Callable[[], object]] = {
        "username": lambda: validate_username(user),
        "email": lambda: validate_email_address(user),
    }
    if password is not None:
        checks["password"] = lambda: validate_password(password, user)
    if password_confirmation is not None:
        checks["password_confirmation"] = lambda: confirm_password(
            password or "", password_confirmation
        )
    raw_values = {
        "username": username,
        "email": email,
        "password": password or "",
        "password_confirmation": password_confirmation or "",
    }
    errors: dict[str, list[ValidationError]] = {}
    for field, check in checks.items():
        try:
            reject_control_characters(raw_values[field])
            check()
        except ValidationError as exc:
            errors[field] = exc.error_list
    if errors:
        raise ValidationError(errors)
    return user


def validate_username(user: User) -> None:
    validate_model_field(user, "username")
    reject_look_alikes(user.username)


def validate_email_address(user: User) -> None:
    """Stores the address in its canonical form, the one every comparison uses."""
    if not user.email:
        raise ValidationError("This field is required.", code="required")
    user.email = canonical_email(user.email)
    validate_model_field(user, "email")


def validate_model_field(user: User, name: str) -> None:
    """Run the model field's own validators (Django's username rules, length)."""
    value = getattr(user, name)
    if not value:
        raise ValidationError("This field is required.", code="required")
    user._meta.get_field(name).run_validators(value)


def validate_password(password: str, user: User) -> None:
    if not password:
        raise ValidationError("This field is required.", code="required")
    password_validation.validate_password(password, user)


def confirm_password(password: str, confirmation: str) -> None:
    if not confirmation:
        raise ValidationError("This field is required.", code="required")
    if confirmation != password:
        raise ValidationError("The two passwords do not match.", code="password_mismatch")


def reject_control_characters(value: str) -> None:
    """Line breaks and other control characters could smuggle headers into emails."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError("Control characters and line breaks are not allowed.", code="control")


def reject_taken(user: User) -> None:
    """Answer the common case with a clear conflict; the database constraints decide races."""
    if User.objects.with_username(user.username).exists():
        raise SignupConflict("username")
    if User.objects.with_email(user.email).exists():
        raise SignupConflict("email")


def conflict_from(exc: IntegrityError) -> SignupConflict:
    message = str(exc)
    if "username" in message:
        return SignupConflict("username")
    if "email" in message:
        return SignupConflict("email")
    raise exc


def queue_signup_tasks(user: User, *, source: str, ip_address: str | None) -> None:
    """Must run inside the signup transaction (see sign_up)."""
    enqueue_together(
        [
            TaskCall(
                send_welcome_email,
                (user.pk,),
                name=f"welcome-email-{user.pk}",
                group="signup",
                keep_success=False,
            ),
            TaskCall(
                record_signup,
                (user.pk, source, ip_address),
                name=f"record-signup-{user.pk}",
                group="signup",
                keep_success=False,
            ),
        ]
    )
    queue_signup_webhook(user)
