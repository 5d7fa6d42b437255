"""Log-ins slowed by failures: after LOGIN_FAILURE_LIMIT failures for a username, or from a
client, within LOGIN_LOCKOUT_MINUTES, log-ins for it are refused until that window ends, on
/login/ and /admin/login/ alike (both authenticate through these)."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.audit import queue_audit_event
from accounts.http import client_ip
from accounts.models import AuditRecord, User
from accounts.throttle import LOGIN_ATTEMPT, begin_login_attempt, login_locked_for
from accounts.throttle import LOGIN_LOCKED as LOCKED


class ThrottledModelBackend(ModelBackend):
    """Django's own backend, except that each log-in counts as a failure before its password is
    checked (and is given back if it succeeds), so that parallel guesses cannot outrun the
    count; past the limit no password is even checked: Django then reports a failed log-in,
    which is not counted again."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        attempt = begin_login_attempt(username or "", client_ip(request))
        if attempt.refused:
            attempt.give_back()
            setattr(request, LOCKED, login_locked_for(username or "", client_ip(request)) or 1)
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            setattr(request, LOGIN_ATTEMPT, attempt)
        else:
            attempt.give_back()
        return user


@receiver(user_login_failed)
def count_failure(
    sender: str, credentials: dict[str, str], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """The failure was counted before its password check (ThrottledModelBackend). A failure
    during a lock counts for nothing: it neither prolongs the lock nor is audited again. The
    failure that locks is audited once."""
    attempt = getattr(request, LOGIN_ATTEMPT, None)
    if attempt is None or hasattr(request, LOCKED):
        return
    username = str(credentials.get("username", ""))[:150]
    ip_address = client_ip(request)
    if attempt.locks:
        setattr(request, LOCKED, login_locked_for(username, ip_address))
        queue_audit_event(
            AuditRecord.Action.LOGIN_LOCKED_OUT,
            user=User.objects.with_username(username).first() if username else None,
            username=username,
            source="web",
            ip_address=ip_address,
        )


class LoginLockoutMiddleware:
    """Answers a log-in refused by the lock, or the failure that set it, with a page that says
    so (429, Retry-After), instead of the form's "wrong password"."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        wait = getattr(request, LOCKED, None)
        if wait is None:
            return response
        minutes = max(1, round(wait / 60))
        page = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
        page["Retry-After"] = str(wait)
        return page
