from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import SignupForm
from accounts.http import client_ip
from accounts.services import SignupConflict, sign_up

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
                source="web",
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except SignupConflict as exc:
            form.add_error(exc.field, ValidationError(exc.message, code=exc.code))
        else:
            request.session[SIGNED_UP_SESSION_KEY] = {
                "username": user.username,
                "email": user.email,
            }
            return redirect("accounts:signup-done")
    status = 400 if form.errors else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


def signup_done(request: HttpRequest) -> HttpResponse:
    signed_up = request.session.get(SIGNED_UP_SESSION_KEY)
    if signed_up is None:
        return redirect("accounts:signup")
    return render(request, "accounts/signup_done.html", signed_up)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "errors/403_csrf.html", status=403)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/400.html", status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)
