from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.account_emails import request_account_email
from accounts.http import client_ip
from accounts.models import EmailRequest
from accounts.services import validate_account


class SignupForm(forms.Form):
    """Shapes the browser's input; the rules of a valid account live in services.sign_up."""

    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirmation = forms.CharField(
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        """Show every problem at once: the account rules too, not only after the rest passed."""
        cleaned = super().clean()
        password = cleaned.get("password")
        confirmation = cleaned.get("password_confirmation")
        if password and confirmation and password != confirmation:
            self.add_error("password_confirmation", "The two passwords do not match.")
        try:
            validate_account(
                username=self.data.get("username", ""),
                email=self.data.get("email", ""),
                password=self.data.get("password", ""),
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                if field not in self.errors:
                    self.add_error(field, errors)
        return cleaned


class EmailForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the email is sent by a worker, and floods are refused."""

    def save(self, *, request: HttpRequest | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        request_account_email(
            EmailRequest.Kind.PASSWORD_RESET,
            self.cleaned_data["email"],
            ip_address=client_ip(request) if request else None,
        )
