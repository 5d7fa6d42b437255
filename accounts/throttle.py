"""The portal's limits: on signups per client, and on emails a person can ask for."""

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.http import UNKNOWN_CLIENT
from accounts.identity import username_key
from throttling.limits import Hit, Limit, RateLimited

HOUR = timedelta(hours=1)
# Set on a request whose log-in was refused by a lock, or whose failure set one: the seconds left.
LOGIN_LOCKED = "login_locked_for"
# Set on a request whose password was checked: its LoginAttempt, counted before the check.
LOGIN_ATTEMPT = "login_attempt"
TRY_LATER = _("Too many requests from your network.")
TOO_MANY_FOR_ADDRESS = _("Too many requests for this address.")
# A username given with a taken address, when signups do not reveal taken addresses
# (SIGNUP_REVEALS_TAKEN_EMAIL=False), is answered as taken for this long, as if the account had
# been created: otherwise signing up again with it would tell whether the address was taken.
RESERVED_USERNAMES = Limit("reserved-username", 1, timedelta(days=30))


def client_key(ip_address: str) -> str:
    """What per-client limits count by: the address, or for IPv6 its /64 network, which one
    host commonly has whole and could otherwise walk through an address at a time."""
    address = ipaddress.ip_address(ip_address)
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip_address


def login_failures(by: str) -> Limit:
    """Failed log-ins counted per username (`by="username"`) or per client (`by="client"`).

    A client may fail more often than a username: one person's own typos lock their username,
    which a password reset or staff lift, and not also their network, which neither could."""
    minutes = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    if by == "username":
        return Limit("login-username", settings.LOGIN_FAILURE_LIMIT, minutes)
    return Limit("login-client", settings.LOGIN_CLIENT_FAILURE_LIMIT, minutes)


def login_locked_for(username: str, ip_address: str | None) -> int | None:
    """Seconds left of a log-in lock on this username or this client, or None."""
    waits = [login_failures("username").retry_after(username_key(username))]
    if locks_by_client(ip_address):
        waits.append(login_failures("client").retry_after(client_key(ip_address)))
    locked = [wait for wait in waits if wait is not None]
    return max(locked) if locked else None


@dataclass(frozen=True)
class LoginAttempt:
    """A log-in counted as a failure for its username and its client before its password is
    checked, in one atomic statement each: of guesses made at the same moment only the first
    LOGIN_FAILURE_LIMIT get a password check, where counting after the check let them all in.
    Each hit comes with the limit it counts against."""

    hits: tuple[tuple[Hit, Limit], ...]

    @property
    def refused(self) -> bool:
        """Past a limit: no password is checked."""
        return any(hit.count > limit.count for hit, limit in self.hits)

    @property
    def locks(self) -> bool:
        """Whether, if it fails, it is the failure that locks the username or the client."""
        return any(hit.count == limit.count for hit, limit in self.hits)

    def give_back(self) -> None:
        """For a success, or a refused attempt: neither is a failure."""
        for hit, _limit in self.hits:
            hit.give_back()


def begin_login_attempt(username: str, ip_address: str | None) -> LoginAttempt:
    by_username = login_failures("username")
    hits = [(by_username.take(username_key(username)), by_username)]
    if locks_by_client(ip_address):
        by_client = login_failures("client")
        hits.append((by_client.take(client_key(ip_address)), by_client))
    return LoginAttempt(tuple(hits))


def check_password_as_log_in(user: Any, password: str, ip_address: str | None) -> bool | None:
    """user.check_password(), counted as a log-in is and held to its limits, for the other
    places a password is checked: None, with no check made, past the limits; a right password
    gives its count back."""
    attempt = begin_login_attempt(user.username, ip_address)
    if attempt.refused:
        attempt.give_back()
        return None
    if not user.check_password(password):
        return False
    attempt.give_back()
    return True


def refuse_wrong_password(user: Any, password: str, ip_address: str | None, *, wrong: str) -> None:
    """check_password_as_log_in(), its refusals as a form's field error: `wrong` for a wrong
    password, or the lock's message past the limits."""
    checked = check_password_as_log_in(user, password, ip_address)
    if checked is None:
        raise ValidationError(
            _("Too many wrong passwords. Try again in a few minutes."), code="locked"
        )
    if not checked:
        raise ValidationError(wrong, code="password_incorrect")


def locks_by_client(ip_address: str | None) -> bool:
    """Not the unknown client: all requests without an address share it, and five failures
    among them would lock everybody out; their usernames are still locked one by one."""
    return bool(ip_address) and ip_address != UNKNOWN_CLIENT


def lift_login_lock(*, username: str | None = None, ip_address: str | None = None) -> None:
    if username is not None:
        login_failures("username").reset(username_key(username))
    if ip_address is not None:
        login_failures("client").reset(client_key(ip_address))


def limit_signups(ip_address: str | None) -> None:
    """Raises RateLimited past SIGNUPS_PER_CLIENT_HOURLY: each signup costs a hash and an email."""
    if ip_address:
        Limit("signup-client", settings.SIGNUPS_PER_CLIENT_HOURLY, HOUR).hit(
            client_key(ip_address), message=TRY_LATER
        )


def limit_email_requests(address: str, ip_address: str | None) -> None:
    """Raises RateLimited when a client asked for too many emails: in all, or for `address`."""
    limit_email_requests_in_all(ip_address)
    if ip_address:
        emails_to_address().hit(
            client_key(ip_address), address.lower(), message=TOO_MANY_FOR_ADDRESS
        )


def limit_email_requests_in_all(ip_address: str | None) -> None:
    if ip_address:
        Limit("email-client", settings.EMAIL_REQUESTS_PER_CLIENT_HOURLY, HOUR).hit(
            client_key(ip_address), message=TRY_LATER
        )


def email_may_go_out(kind: str, address: str, ip_address: str | None) -> bool:
    """Whether an email of this kind, asked for by this client, goes to `address` now: False
    inside the address's cooldown (the answer is the same, nothing is sent). Raises
    RateLimited past the client's limits. Only a request that sends counts against the limit
    for one address: pressing "send it again" inside the cooldown would otherwise refuse the
    person a password reset too. Counted first, given back if it does not send, so that two
    requests at once cannot both pass the last place under the limit."""
    limit_email_requests_in_all(ip_address)
    limit = emails_to_address()
    hit = limit.take(client_key(ip_address), address.lower()) if ip_address else None
    if hit is not None and hit.count > limit.count:
        hit.give_back()
        raise RateLimited(TOO_MANY_FOR_ADDRESS, limit.seconds_left(hit.window_start))
    if cooldown_passed(kind, address):
        return True
    if hit is not None:
        hit.give_back()
    return False


def emails_to_address() -> Limit:
    return Limit("email-client-address", settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY, HOUR)


def cooldown_passed(kind: str, address: str) -> bool:
    """True at most once per EMAIL_REQUEST_COOLDOWN for an email of this kind to `address`,
    whoever asks: a request inside it sends nothing but is answered the same, so no stranger
    can lock the owner of an address out of their own emails, and answers reveal nothing."""
    cooldown = Limit("email-address", 1, timedelta(seconds=settings.EMAIL_REQUEST_COOLDOWN))
    return cooldown.first(kind, address.lower())


def reserve_username(username: str) -> None:
    RESERVED_USERNAMES.first(username_key(username))


def release_username(username: str) -> None:
    RESERVED_USERNAMES.reset(username_key(username))


def username_reserved(username: str) -> bool:
    return RESERVED_USERNAMES.reached(username_key(username))
