"""The site's own error pages, in its look, instead of Django's bare defaults."""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "errors/403_csrf.html", {"form_url": form_page(request)}, status=403)


def form_page(request: HttpRequest) -> str:
    """The page the refused form was on: the Referer, if it is this site's, else the address
    the form was sent to (most forms are sent to their own page)."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        if parts.path.startswith("/") and not parts.path.startswith(("//", "/\\")):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.path


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/400.html", status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)


def favicon(request: HttpRequest) -> HttpResponse:
    """For the pages that name no icon (the admin, the API docs): browsers ask /favicon.ico."""
    return redirect(static("favicon.svg"))
