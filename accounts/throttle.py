"""The portal's limits: on signups per client, and on emails a person can ask for."""

from datetime import timedelta

from django.conf import settings

from throttling.limits import Limit

HOUR = timedelta(hours=1)
TRY_LATER = "Too many requests from your network. Please try again later."


def limit_signups(ip_address: str | None) -> None:
    """Raises RateLimited past SIGNUPS_PER_CLIENT_HOURLY: each signup costs a hash and an email."""
    if ip_address:
        Limit("signup-client", settings.SIGNUPS_PER_CLIENT_HOURLY, HOUR).hit(
            ip_address, message=TRY_LATER
        )


def limit_email_requests(kind: str, email: str, ip_address: str | None) -> bool:
    """Whether to send the email a person asked for; raises RateLimited when the client is over
    its limits (per client, per client and address).

    An address gets at most one such email per EMAIL_REQUEST_COOLDOWN, whoever asks: a request
    inside it sends nothing but is answered the same, so that no stranger can lock the owner
    of an address out of their own resets, and the answers reveal nothing.
    """
    address = email.lower()
    if ip_address:
        Limit("email-client", settings.EMAIL_REQUESTS_PER_CLIENT_HOURLY, HOUR).hit(
            ip_address, message=TRY_LATER
        )
        Limit("email-client-address", settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY, HOUR).hit(
            ip_address,
            address,
            message="Too many requests for this address. Please try again in an hour.",
        )
    return cooldown_passed(kind, address)


def cooldown_passed(kind: str, address: str) -> bool:
    """True at most once per EMAIL_REQUEST_COOLDOWN for an email of this kind to `address`."""
    cooldown = Limit("email-address", 1, timedelta(seconds=settings.EMAIL_REQUEST_COOLDOWN))
    if cooldown.reached(kind, address.lower()):
        return False
    cooldown.hit(kind, address.lower(), message="")
    return True
