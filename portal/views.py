"""The site's own error pages, in its look, instead of Django's bare defaults."""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from portal.api import API_PATH, error_response


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
    """Under /api/ in the API's error shape: a request refused before it reached the API (a
    Host this site does not serve) is still answered in JSON."""
    if request.path_info.startswith(API_PATH):
        message = _("The request could not be understood. Nothing was saved.")
        return error_response(request, 400, "bad_request", message)
    return render(request, "errors/400.html", status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)


def favicon(request: HttpRequest) -> HttpResponse:
    """For the pages that name no icon (the admin, the API docs): browsers ask /favicon.ico."""
    return redirect(static("favicon.svg"))
