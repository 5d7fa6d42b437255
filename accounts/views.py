from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.emails.requests import request_account_email
from accounts.forms import EmailForm, LoginForm, QueuedPasswordResetForm, SignupForm
from accounts.http import client_ip
from accounts.models import EmailDelivery, User
from accounts.signup import SignupConflict, sign_up
from accounts.signup_followup import correct_signup_email, repeated_signup
from accounts.verification import Verification, verify_email
from throttling.limits import RateLimited

SIGNED_UP_SESSION_KEY = "signed_up"


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = sign_up(
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
            repeat = repeated_signup(
                request,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
            if repeat is not None:
                return signed_up(request, repeat)
            form.add_error(exc.field, ValidationError(exc.message, code=exc.code))
        except RateLimited as exc:
            form.add_error(None, str(exc))
            return render_limited(request, "accounts/signup.html", {"form": form}, exc)
        else:
            return signed_up(request, user)
    status = 400 if form.errors else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


def signed_up(request: HttpRequest, user: User) -> HttpResponse:
    """Remember who this browser just signed up as (an account not saved, in the mode that
    hides taken addresses, has no id), and show what comes next."""
    request.session[SIGNED_UP_SESSION_KEY] = {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
    }
    return redirect("accounts:signup-done")


def signup_done(request: HttpRequest) -> HttpResponse:
    signed_up = request.session.get(SIGNED_UP_SESSION_KEY)
    if signed_up is None:
        return redirect("accounts:signup")
    return render_signup_done(request, signed_up, EmailForm())


def render_signup_done(
    request: HttpRequest, signed_up: dict, correction: EmailForm, status: int = 200
) -> HttpResponse:
    context = {
        "username": signed_up["username"],
        "email": signed_up["email"],
        "form": correction,
        "resend": EmailForm(initial={"email": signed_up["email"]}),
    }
    return render(request, "accounts/signup_done.html", context, status=status)


@require_POST
def correct_email(request: HttpRequest) -> HttpResponse:
    """A mistyped address, corrected from the page after signing up, by the browser that did."""
    signed_up = request.session.get(SIGNED_UP_SESSION_KEY)
    if signed_up is None:
        return redirect("accounts:signup")
    form = EmailForm(request.POST)
    if form.is_valid():
        account = User.objects.filter(pk=signed_up.get("id")).first()
        try:
            if account is not None:
                correct_signup_email(
                    account, form.cleaned_data["email"], ip_address=client_ip(request)
                )
        except ValidationError as exc:
            form.add_error(None, exc)
        except RateLimited as exc:
            form.add_error("email", str(exc))
        else:
            signed_up["email"] = form.cleaned_data["email"]
            request.session[SIGNED_UP_SESSION_KEY] = signed_up
            messages.success(
                request,
                _("Your address is now %(email)s. We sent a new link to confirm it.")
                % {"email": form.cleaned_data["email"]},
            )
            return redirect("accounts:signup-done")
    return render_signup_done(request, signed_up, form, status=400)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", {"account": request.user})


def verify_email_link(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    outcome = verify_email(uidb64, token, ip_address=client_ip(request))
    status = 400 if outcome is Verification.INVALID else 200
    context = {"outcome": outcome.value, "form": EmailForm()}
    return render(request, "accounts/verify_email.html", context, status=status)


@require_http_methods(["GET", "POST"])
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


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "registration/password_reset_form.html"
    success_url = reverse_lazy("accounts:password-reset-done")

    def form_invalid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        """400, as every other form of the portal answers a submission with errors."""
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def form_valid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        try:
            return super().form_valid(form)
        except RateLimited as exc:
            form.add_error("email", str(exc))
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")


class LogoutView(auth_views.LogoutView):
    """Opening /logout/ asks first (a link must not log anyone out); the button logs out."""

    http_method_names = ["get", "post", "options"]
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
