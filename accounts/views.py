from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django.views.generic.edit import FormView

from accounts.address_correction import correct_signup_email
from accounts.audit import record_password_changed
from accounts.emails.requests import request_account_email
from accounts.forms import (
    EmailCorrectionForm,
    EmailForm,
    LoginForm,
    NewPasswordForm,
    QueuedPasswordResetForm,
    SignupForm,
    ThrottledPasswordChangeForm,
)
from accounts.http import client_ip
from accounts.models import EmailDelivery
from accounts.signup import SignupConflict
from accounts.signup_followup import (
    SignedUp,
    new_form_token,
    recall,
    remember,
    sign_up_once,
)
from accounts.throttle import lift_login_lock
from accounts.tokens import set_password_url
from accounts.verification import Verification, check_link, mark_verified, verify_email
from throttling.limits import RateLimited


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html")


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        form = SignupForm(initial={"form_token": new_form_token()})
        return render(request, "accounts/signup.html", {"form": form})
    form = SignupForm(request.POST)
    if form.is_valid():
        try:
            signed_up = sign_up_once(
                form.cleaned_data["form_token"],
                remembered=recall(request),
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                password_confirmation=form.cleaned_data["password_confirmation"],
                source="web",
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except SignupConflict as exc:
            form.add_error(None, ValidationError(exc.errors()))
        except RateLimited as exc:
            form.add_error(None, str(exc))
            return render_limited(request, "accounts/signup.html", {"form": form}, exc)
        else:
            remember(request, signed_up)
            return redirect("accounts:signup-done")
    return render(request, "accounts/signup.html", {"form": form}, status=400)


def signup_done(request: HttpRequest) -> HttpResponse:
    signed_up = recall(request)
    if signed_up is None:
        return redirect("accounts:signup")
    return render_signup_done(request, signed_up, EmailCorrectionForm())


def render_signup_done(
    request: HttpRequest, signed_up: SignedUp, correction: EmailCorrectionForm, status: int = 200
) -> HttpResponse:
    context = {**signed_up, "form": correction, "corrected": request.GET.get("corrected")}
    return render(request, "accounts/signup_done.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def correct_email(request: HttpRequest) -> HttpResponse:
    """A mistyped address, corrected from the page after signing up, by the browser that did."""
    signed_up = recall(request)
    if signed_up is None:
        return redirect("accounts:signup")
    if request.method != "POST":
        return redirect("accounts:signup-done")
    form = EmailCorrectionForm(request.POST)
    if form.is_valid():
        try:
            sent = correct_signup_email(
                request,
                form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except RateLimited as exc:
            form.add_error("email", str(exc))
            response = render_signup_done(request, signed_up, form, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            answer = "?corrected" if sent else "?corrected=wait"
            return redirect(reverse("accounts:signup-done") + answer)
    return render_signup_done(request, signed_up, form, status=400)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", {"account": request.user})


@require_http_methods(["GET", "HEAD", "POST"])
def verify_email_link(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Opening the link shows a button; only pressing it (a POST) verifies."""
    if request.method == "POST":
        user, outcome = verify_email(uidb64, token, ip_address=client_ip(request))
    else:
        user, outcome = check_link(uidb64, token)
    status = 400 if outcome is Verification.INVALID else 200
    context = {
        "outcome": outcome.value,
        "email": user.email if outcome is Verification.PENDING else "",
        # An account made without a password (through the API) goes on to choose one.
        # Only to the request that verified: a used link stays good for "already verified".
        "choose_password_url": (
            set_password_url(user)
            if outcome is Verification.VERIFIED and not user.has_usable_password()
            else ""
        ),
        "form": EmailForm(),
    }
    return render(request, "accounts/verify_email.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def resend_verification(request: HttpRequest) -> HttpResponse:
    initial = {"email": request.user.email} if request.user.is_authenticated else {}
    form = EmailForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            request_account_email(
                EmailDelivery.Kind.VERIFICATION,
                form.cleaned_data["email"],
                ip_address=client_ip(request),
            )
        except RateLimited as exc:
            form.add_error("email", str(exc))
            return render_limited(request, "accounts/resend_verification.html", {"form": form}, exc)
        return redirect("accounts:verification-sent")
    status = 400 if form.errors else 200
    return render(request, "accounts/resend_verification.html", {"form": form}, status=status)


def verification_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/verification_sent.html")


def render_limited(
    request: HttpRequest, template: str, context: dict[str, object], exc: RateLimited
) -> HttpResponse:
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        """Never back to the log-in page itself (`?next=/login/`): a person already logged in
        would be sent round in a loop, which Django answers with a 500."""
        url = super().get_success_url()
        if urlsplit(url).path == self.request.path:
            return resolve_url(settings.LOGIN_REDIRECT_URL)
        return url


class ErrorsAnswer400(FormView):
    """A form view answering a submission with errors 400, as the portal's other forms do."""

    def form_invalid(self, form: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PasswordResetView(ErrorsAnswer400, auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "registration/password_reset_form.html"
    success_url = reverse_lazy("accounts:password-reset-done")

    def form_valid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        try:
            return super().form_valid(form)
        except RateLimited as exc:
            form.add_error("email", str(exc))
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response


class PasswordResetConfirmView(ErrorsAnswer400, auth_views.PasswordResetConfirmView):
    form_class = NewPasswordForm
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        """A link that no longer works answers 400, as a verification link's does."""
        if not context.get("validlink"):
            response_kwargs["status"] = 400
        return super().render_to_response(context, **response_kwargs)

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        """The link proves the address's owner: their username's log-in lock is lifted too."""
        response = super().form_valid(form)
        record_password_changed(self.request, form.user)
        mark_verified(form.user, ip_address=client_ip(self.request))
        lift_login_lock(username=form.user.username)
        return response


class PasswordChangeView(ErrorsAnswer400, auth_views.PasswordChangeView):
    """For a person logged in, with their current password; the session stays logged in."""

    form_class = ThrottledPasswordChangeForm
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("accounts:account")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "ip_address": client_ip(self.request)}

    def form_valid(self, form: ThrottledPasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        record_password_changed(self.request, form.user)
        messages.success(self.request, _("Your new password is set."))
        return response


class LogoutView(auth_views.LogoutView):
    """Opening /logout/ asks first (a link must not log anyone out); the button logs out."""

    http_method_names = ["get", "head", "post", "options"]
    template_name = "registration/logout.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(settings.LOGOUT_REDIRECT_URL)
        return render(request, self.template_name)

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, _("You have been logged out."))
        return response
