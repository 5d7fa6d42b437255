from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.emails.requests import request_account_email
from accounts.http import client_ip
from accounts.identity import clean_email
from accounts.models import EmailDelivery
from accounts.throttle import refuse_wrong_password


def required_input(widget: type[forms.Widget], **attrs: str) -> forms.Widget:
    """Marked required for the browser and assistive technology; sign_up() enforces it."""
    return widget(attrs={"required": True, **attrs})


# A password any form here can send: the signup form sends it twice, percent-encoded (up to 12
# bytes a character), and a body over DATA_UPLOAD_MAX_MEMORY_SIZE (16 KiB) is refused. The API
# holds passwords to the same length, so that one chosen there can be typed at /login/.
PASSWORD_MAX_LENGTH = 512


class SignupForm(forms.Form):
    """Shapes the browser's input; every rule of a valid account is checked once, by sign_up(),
    which reports all the problems at once."""

    username = forms.CharField(
        label=_("Username"),
        required=False,
        max_length=150,
        help_text=_("Letters, digits and @ . + - _ only."),
        widget=required_input(forms.TextInput, autocomplete="username", autocapitalize="none"),
    )
    email = forms.CharField(
        label=_("Email"),
        required=False,
        max_length=254,
        widget=required_input(forms.EmailInput, autocomplete="email"),
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        # The rules from the start, not only once a password has broken one.
        help_text=password_validation.password_validators_help_text_html(),
        widget=required_input(forms.PasswordInput, autocomplete="new-password"),
    )
    password_confirmation = forms.CharField(
        label=_("Password confirmation"),
        required=False,
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=required_input(forms.PasswordInput, autocomplete="new-password"),
    )
    # Tells a second submission of this same form (a double click) from anybody else's.
    form_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class CanonicalEmail:
    """The address checked by the portal's own rules (accounts.identity), which refuse some
    that Django's EmailField accepts; the cleaned value is the canonical form."""

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])


class EmailForm(CanonicalEmail, forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        error_messages={"invalid": _("Enter a valid email address.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class EmailCorrectionForm(EmailForm):
    """The address corrected after signing up, with the password chosen in the signup form."""

    password = forms.CharField(
        label=_("Your password"),
        help_text=_("The one you chose when you signed up."),
        required=False,  # answered by correct_signup_email(), as a wrong one is
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class LoginForm(AuthenticationForm):
    """Says which of the two is case-sensitive: usernames compare in any letter case here."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "The username or the password is not right. The password is case-sensitive; "
            "the username is not."
        ),
    }


class QueuedPasswordResetForm(CanonicalEmail, PasswordResetForm):
    """Django's reset form, but the email is sent by a worker, and floods are refused."""

    def save(self, *, request: HttpRequest | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        request_account_email(
            EmailDelivery.Kind.PASSWORD_RESET,
            self.cleaned_data["email"],
            ip_address=client_ip(request) if request else None,
        )


class NewPasswordRulesOnItsOwnField:
    """Django puts what the password rules say of a new password under its confirmation; the
    signup form, under the password: the same here."""

    def validate_password_for_user(self, user: Any, password_field_name: str = "") -> None:
        super().validate_password_for_user(user, "new_password1")  # type: ignore[misc]


class NewPasswordForm(NewPasswordRulesOnItsOwnField, SetPasswordForm):
    """The set-password and reset link's form."""


class ThrottledPasswordChangeForm(NewPasswordRulesOnItsOwnField, PasswordChangeForm):
    """The current password is checked as a log-in is, held to the same limits: a session left
    open in a shared browser is no way to guess it without them."""

    def __init__(self, user: Any, *args: Any, ip_address: str | None = None, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.ip_address = ip_address

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        refuse_wrong_password(
            self.user,
            old_password,
            self.ip_address,
            wrong=self.error_messages["password_incorrect"],
        )
        return old_password
