"""The signup use case, shared by the HTML form and the JSON API so that the two cannot drift."""

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from accounts.identity import (
    clean_email,
    latin_twin,
    reject_control_characters,
    reject_invisible_characters,
    reject_look_alikes,
    validate_username_key,
)
from accounts.models import User
from accounts.tasks import record_signup, send_signup_attempt_email, send_welcome_email
from accounts.throttle import (
    cooldown_passed,
    limit_signups,
    reserve_username,
    username_reserved,
)
from taskqueue.enqueue import TaskCall, enqueue, enqueue_together
from webhooks.delivery import queue_signup_webhook

logger = logging.getLogger(__name__)


# Spaces typed around a name, dropped as the form's field drops them (an ideographic space
# from a Japanese input method too); not control characters, which are refused.
SPACES_AROUND = re.compile(r"\A[^\S\x00-\x1f\x7f-\x9f]+|[^\S\x00-\x1f\x7f-\x9f]+\Z")

TAKEN_MESSAGES = {
    "username": gettext_lazy("An account with this username already exists."),
    "email": gettext_lazy("An account with this email already exists."),
}


class SignupConflict(Exception):
    """The username or the email, or both, already belong to an account. `field`, `code` and
    `message` are the first one's (the username when both are taken)."""

    def __init__(self, field: str, *more_fields: str) -> None:
        self.fields = (field, *more_fields)
        self.field = field
        self.code = f"{field}_taken"
        self.message = str(TAKEN_MESSAGES[field])
        super().__init__(self.message)

    def errors(self) -> dict[str, ValidationError]:
        """Each taken field's error, by field."""
        return {
            field: ValidationError(str(TAKEN_MESSAGES[field]), code=f"{field}_taken")
            for field in self.fields
        }


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
    username = SPACES_AROUND.sub("", username)
    try:
        user = validate_account(
            username=username,
            email=email,
            password=password,
            password_confirmation=password_confirmation,
        )
    except ValidationError as invalid:
        raise with_taken_username(invalid, username, ip_address) from None
    # A hash costs a tenth of a second: the client's signup is counted before it, refusing a
    # client past its limit. Without one, it is counted in the account's own transaction.
    count_in_transaction = password is None
    if not count_in_transaction:
        limit_signups(ip_address)
    hash_password(user, password)
    try:
        create_account(
            user, source=source, ip_address=ip_address, count_signup=count_in_transaction
        )
    except SignupConflict as conflict:
        if conflict.field != "email" or settings.SIGNUP_REVEALS_TAKEN_EMAIL:
            raise
        tell_the_owner(user.username, user.email)
    return user


def create_account(
    user: User, *, source: str, ip_address: str | None, count_signup: bool = False
) -> None:
    """With `count_signup`, the client's signup is counted in the account's transaction: one
    commit instead of two. Counted last, so that the counter's row stays locked only until the
    commit; a refusal rolls the count back with the account, which changes nothing (the window
    is already full). A signup refused as taken (a held name included) is counted on its own,
    as it was tried: else names could be probed without limit."""
    try:
        insert_account(user, source=source, ip_address=ip_address, count_signup=count_signup)
    except SignupConflict:
        if count_signup:
            limit_signups(ip_address)
        raise
    logger.info("account %s created via %s", user.pk, source)


def insert_account(user: User, *, source: str, ip_address: str | None, count_signup: bool) -> None:
    """The account and its tasks in one transaction; raises SignupConflict if it is taken."""
    reject_taken(user)
    try:
        with transaction.atomic():
            user.save()
            queue_signup_tasks(user, source=source, ip_address=ip_address)
            if count_signup:
                limit_signups(ip_address)
    except IntegrityError as exc:  # the username or the address is taken
        raise conflict_from(exc, user) from exc


def tell_the_owner(username: str, email: str) -> None:
    """With SIGNUP_REVEALS_TAKEN_EMAIL=False a signup with a taken address is answered as if it
    succeeded: its username is reserved as if the account existed, and the address's owner gets
    an email saying someone tried (at most one per cooldown)."""
    reserve_username(username)
    notify_the_owner(email)


def notify_the_owner(email: str) -> None:
    """Someone tried to take this address: its owner hears of it, at most once per cooldown."""
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
    user = User(
        username=User.normalize_username(username), email=email, language=get_language() or ""
    )
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


def with_taken_username(
    invalid: ValidationError, username: str, ip_address: str | None
) -> ValidationError:
    """A taken username is told with the other mistakes, not only once they are fixed (a valid
    signup learns it from the unique constraint, without this query). Asking counts as a signup
    against the client's limit, as a signup refused as taken does: else any invalid form would
    probe names without one."""
    errors = invalid.error_dict
    if "username" in errors:
        return invalid
    limit_signups(ip_address)
    if username_taken(User.normalize_username(username)):
        taken = SignupConflict("username")
        errors["username"] = [ValidationError(taken.message, code=taken.code)]
    return ValidationError(errors)


def username_taken(username: str) -> bool:
    return User.objects.with_username(username).exists() or (
        not settings.SIGNUP_REVEALS_TAKEN_EMAIL and username_reserved(username)
    )


def validate_username(user: User) -> None:
    reject_invisible_characters(user.username)
    validate_model_field(user, "username")
    validate_username_key(user.username)
    reject_look_alikes(user.username)


def validate_email_address(user: User) -> None:
    """Stores the address in its canonical form, the one every comparison uses."""
    user.email = clean_email(user.email)
    validate_model_field(user, "email")


def validate_model_field(user: User, name: str) -> None:
    """Run the model field's own validators (Django's username rules, length)."""
    value = getattr(user, name)
    if not value:
        raise ValidationError(_("This field is required."), code="required")
    user._meta.get_field(name).run_validators(value)


def validate_password(password: str, user: User) -> None:
    if not password:
        raise ValidationError(_("This field is required."), code="required")
    password_validation.validate_password(password, user)


def confirm_password(password: str, confirmation: str) -> None:
    if not confirmation:
        raise ValidationError(_("This field is required."), code="required")
    if confirmation != password:
        raise ValidationError(_("The two passwords do not match."), code="password_mismatch")


def reject_taken(user: User) -> None:
    """What no constraint can tell: a username held for an account the portal does not reveal,
    which only SIGNUP_REVEALS_TAKEN_EMAIL=False does (tell_the_owner; with the address revealed
    a held name hides nothing, and the query is saved), and a name in another script that passes
    letter by letter for a Latin one taken (latin_twin: the impersonator comes second). A taken
    username or address is refused by the unique constraints at the insert (one statement,
    instead of a SELECT for each before it), and told apart by conflict_from()."""
    if not settings.SIGNUP_REVEALS_TAKEN_EMAIL and username_reserved(user.username):
        raise SignupConflict("username")
    twin = latin_twin(user.username)  # None for an ASCII name: no query on the common path
    if twin and User.objects.with_username(twin).exists():
        raise SignupConflict("username")


def conflict_from(exc: IntegrityError, user: User) -> SignupConflict:
    """Which unique constraint refused the account: by its name (PostgreSQL's message also
    quotes the values, which may contain either word). The database reports one of the two;
    one SELECT on this path only tells whether the other is taken too, so that both are told
    at once, on either database, the name first. An address is told only where signups reveal
    taken addresses (SIGNUP_REVEALS_TAKEN_EMAIL)."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    refused = constraint or str(exc)
    if "email" in refused:
        if not User.objects.with_username(user.username).exists():
            return SignupConflict("email")
        email_taken = True
    elif "username" in refused:
        email_taken = User.objects.with_email(user.email).exists()
    else:
        raise exc
    if email_taken and settings.SIGNUP_REVEALS_TAKEN_EMAIL:
        return SignupConflict("username", "email")
    return SignupConflict("username")


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
                (user.pk, source, ip_address, user.date_joined.isoformat()),
                name=f"record-signup-{user.pk}",
                group="signup",
                keep_success=False,
            ),
        ]
    )
    queue_signup_webhook(user)
