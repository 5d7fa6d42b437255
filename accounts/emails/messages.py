"""Emails the workers send, built from Jinja2 templates under templates/emails/."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.tokens import absolute_url, set_password_url, verification_url


def message_id(kind: str, key: str) -> str:
    """Stable for one email, so a duplicate sent after a redelivery is recognisable downstream."""
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"
    return f"<{kind}.{key}@{host}>"


def welcome_message_id(user: User) -> str:
    return message_id("welcome", f"{user.pk}.{int(user.date_joined.timestamp())}")


def build_email(
    template: str, subject: str, user: User, message_id: str, **context: object
) -> EmailMultiAlternatives:
    """In the language the person signed up in, whatever the worker's own; `subject` is a lazy
    translation, which may name the account as %(username)s."""
    context = {"username": user.username, "portal_url": settings.PORTAL_BASE_URL, **context}
    with translation.override(user.language or settings.LANGUAGE_CODE):
        message = EmailMultiAlternatives(
            subject=str(subject) % {"username": user.username},
            body=render_to_string(f"emails/{template}.txt", context),
            to=[user.email],
            headers={"Message-ID": message_id},
        )
        html = render_to_string(f"emails/{template}.html", context)
    message.attach_alternative(html, "text/html")
    return message


def load_templates() -> None:
    """Compile every email's templates and load each language's catalog, once per worker
    process (taskqueue.workers), so that its first email is as quick as the next."""
    jinja2 = engines["jinja2"]
    names = jinja2.env.list_templates(filter_func=lambda name: name.startswith("emails/"))
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            for name in names:
                jinja2.get_template(name)


def welcome_email(user: User) -> EmailMultiAlternatives:
    return build_email(
        "welcome",
        _("Welcome to the Signup Portal, %(username)s"),
        user,
        welcome_message_id(user),
        verify_url=verification_url(user),
        set_password_url=None if user.has_usable_password() else set_password_url(user),
    )


def verification_email(user: User, request_id: str) -> EmailMultiAlternatives:
    return build_email(
        "verification",
        _("Confirm your email address"),
        user,
        message_id("verification", request_id),
        verify_url=verification_url(user),
    )


def password_reset_email(user: User, request_id: str) -> EmailMultiAlternatives:
    return build_email(
        "password_reset",
        _("Choose a new password"),
        user,
        message_id("password-reset", request_id),
        reset_url=set_password_url(user),
    )


def signup_attempt_email(user: User, request_id: str) -> EmailMultiAlternatives:
    """To the owner of an address someone tried to sign up with, when the signup answer does
    not reveal that the address is taken (SIGNUP_REVEALS_TAKEN_EMAIL=False)."""
    return build_email(
        "signup_attempt",
        _("Someone tried to sign up with your email address"),
        user,
        message_id("signup-attempt", request_id),
        login_url=absolute_url("accounts:login"),
        reset_url=absolute_url("accounts:password-reset"),
    )
