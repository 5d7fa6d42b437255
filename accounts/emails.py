"""Emails the workers send, built from Jinja2 templates under templates/emails/."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import User


def welcome_message_id(user: User) -> str:
    """Stable per account, so a duplicate sent after a redelivery is recognisable downstream."""
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"
    return f"<welcome.{user.pk}.{int(user.date_joined.timestamp())}@{host}>"


def welcome_email(user: User) -> EmailMultiAlternatives:
    context = {
        "username": user.username,
        "portal_url": settings.PORTAL_BASE_URL,
        "has_password": user.has_usable_password(),
    }
    message = EmailMultiAlternatives(
        subject=f"Welcome to the portal, {user.username}",
        body=render_to_string("emails/welcome.txt", context),
        to=[user.email],
        headers={"Message-ID": welcome_message_id(user)},
    )
    message.attach_alternative(render_to_string("emails/welcome.html", context), "text/html")
    return message
