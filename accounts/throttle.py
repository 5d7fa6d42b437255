"""The portal's limits: on signups per client, and on emails a person can ask for."""

from datetime import timedelta

from django.conf import settings

from accounts.identity import username_key
from throttling.limits import Limit

HOUR = timedelta(hours=1)
TRY_LATER = "Too many requests from your network. Please try again later."
# A username given with a taken address, when signups do not reveal taken addresses
# (SIGNUP_REVEALS_TAKEN_EMAIL=False), is answered as taken for this long, as if the account had
# been created: otherwise signing up again with it would tell whether the address was taken.
RESERVED_USERNAMES = Limit("reserved-username", 1, timedelta(days=30))


def limit_signups(ip_address: str | None) -> None:
    """Raises RateLimited past SIGNUPS_PER_CLIENT_HOURLY: each signup costs a hash and an email."""
    if ip_address:
        Limit("signup-client", settings.SIGNUPS_PER_CLIENT_HOURLY, HOUR).hit(
            ip_address, message=TRY_LATER
        )


def limit_email_requests(address: str, ip_address: str | None) -> None:
    """Raises RateLimited when a client asked for too many emails: in all, or for `address`."""
    if not ip_address:
        return
    Limit("email-client", settings.EMAIL_REQUESTS_PER_CLIENT_HOURLY, HOUR).hit(
        ip_address, message=TRY_LATER
    )
    Limit("email-client-address", settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY, HOUR).hit(
        ip_address,
        address.lower(),
        message="Too many requests for this address. Please try again in an hour.",
    )


def cooldown_passed(kind: str, address: str) -> bool:
    """True at most once per EMAIL_REQUEST_COOLDOWN for an email of this kind to `address`,
    whoever asks: a request inside it sends nothing but is answered the same, so no stranger
    can lock the owner of an address out of their own emails, and answers reveal nothing."""
    cooldown = Limit("email-address", 1, timedelta(seconds=settings.EMAIL_REQUEST_COOLDOWN))
    return cooldown.first(kind, address.lower())


def reserve_username(username: str) -> None:
    RESERVED_USERNAMES.first(username_key(username))


def username_reserved(username: str) -> bool:
    return RESERVED_USERNAMES.reached(username_key(username))
