"""The same signup form sent twice (a double click, a reload, Back) is answered with what its
first submission made, not "already exists"; and what the browser that signed up remembers of
it, for the minutes after (accounts.address_correction)."""

import hashlib
import secrets
import time
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from django.contrib.auth import hashers
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.identity import clean_email, username_key
from accounts.models import User
from accounts.signup import SignupConflict, sign_up
from accounts.throttle import check_password_as_log_in

# How long a form's first submission is remembered, and an address can be corrected.
FOLLOW_UP_WINDOW = timedelta(minutes=30)
SESSION_KEY = "signed_up"
IN_PROGRESS = "in-progress"
# How long a repeat waits for the first submission, still running, to finish.
FIRST_SUBMISSION_DEADLINE = 10.0


class SignedUp(TypedDict):
    """A signup, as the browser that made it remembers it. `id` is None for the answer given
    when the address is taken and signups do not reveal it (SIGNUP_REVEALS_TAKEN_EMAIL=False);
    the password's hash is then kept (in the server-side session) in place of the account's, so
    that the password is checked the same either way, and a correction to an address of the
    person's own can make the account they meant."""

    id: int | None
    username: str
    email: str
    password_hash: NotRequired[str]
    answered_at: NotRequired[str]  # ISO 8601: when the signup without an account was answered


class HeldSignup:
    """A signup answered as made when no account was: what check_password_as_log_in() needs of
    an account."""

    def __init__(self, signed_up: SignedUp) -> None:
        self.username = signed_up["username"]
        self.password_hash = signed_up.get("password_hash", "")
        answered_at = signed_up.get("answered_at")
        self.answered_at = datetime.fromisoformat(answered_at) if answered_at else None

    def check_password(self, raw_password: str) -> bool:
        return bool(self.password_hash) and hashers.check_password(raw_password, self.password_hash)


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
    if user.pk is None:
        signed_up["password_hash"] = user.password
        signed_up["answered_at"] = timezone.now().isoformat()
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
    owner = signed_up_as(earlier)
    if owner is None or password is None:
        return False
    return check_password_as_log_in(owner, password, ip_address) is True


def signed_up_as(signed_up: SignedUp) -> User | HeldSignup | None:
    """The account the signup made, or the one it was answered as making; None if neither is
    (deleted since, or remembered by a session older than the password's hash in it)."""
    if signed_up["id"] is not None:
        return User.objects.filter(pk=signed_up["id"]).first()
    return HeldSignup(signed_up) if "password_hash" in signed_up else None


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
