"""Limits on requests that send email, so that nobody can flood an inbox through the portal."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import EmailRequest

WINDOW = timedelta(hours=1)


class TooManyRequests(Exception):
    def __init__(self) -> None:
        self.retry_after = int(WINDOW.total_seconds())
        super().__init__("Too many requests for this address. Please try again in an hour.")


def record_email_request(kind: str, email: str, ip_address: str | None) -> None:
    """Record the request, or raise TooManyRequests when the address or client is over its limit.

    Counted per address whether or not an account has it, so the answer reveals nothing.
    """
    since = timezone.now() - WINDOW
    recent = EmailRequest.objects.filter(requested_at__gte=since)
    if recent.filter(email=email.lower()).count() >= settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY:
        raise TooManyRequests
    if ip_address and (
        recent.filter(ip_address=ip_address).count() >= settings.EMAIL_REQUESTS_PER_CLIENT_HOURLY
    ):
        raise TooManyRequests
    EmailRequest.objects.create(kind=kind, email=email.lower(), ip_address=ip_address)
