from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.middleware.common import CommonMiddleware
from django.shortcuts import render
from django.urls import is_valid_path
from django.utils.http import escape_leading_slashes
from django.utils.translation import gettext as _

from portal.api import API_PATH, error_response
from portal.views import form_page


class JsonApiMiddleware:
    """Every answer under /api/ is JSON in the API's error shape, for an address or a method
    the API does not have too (Django's would be an HTML page, and a POST to an address
    without its trailing slash an error about APPEND_SLASH). Before CommonMiddleware, which
    would redirect that POST to a GET.

    The JSON API reads JSON bodies only. A body of another type is refused with 415 before it
    is parsed: an HTML form on any site can post text/plain across origins without a CORS
    preflight, and would otherwise create accounts and send emails from a visitor's browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PATH):
            return self.get_response(request)
        request.get_host()  # CommonMiddleware's check, which this may answer before
        if not request.path_info.endswith("/") and is_valid_path(f"{request.path_info}/"):
            message = _("There is nothing at this address. Did you mean %(address)s?") % {
                "address": f"{request.path}/"
            }
            return error_response(request, 404, "not_found", message)
        response = self.get_response(request)
        if response.status_code not in (404, 405) or is_json(response):
            return response
        if response.status_code == 404:
            return error_response(request, 404, "not_found", _("There is nothing at this address."))
        allowed = response.get("Allow", "")
        message = _("This address does not accept %(method)s. It accepts %(allowed)s.") % {
            "method": request.method,
            "allowed": allowed,
        }
        answer = error_response(request, 405, "method_not_allowed", message)
        answer["Allow"] = allowed
        return answer

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], *args: object
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.namespace != "api" or request.method != "POST":
            return None
        declared_length = content_length(request)
        if declared_length is None:
            message = _("The Content-Length header must be a number of bytes.")
            return error_response(request, 400, "invalid_content_length", message)
        chunked = "HTTP_TRANSFER_ENCODING" in request.META and not declared_length
        if chunked and isinstance(request, WSGIRequest):  # Django reads no more than declared
            message = _("Send the body with a Content-Length header, not in chunks.")
            return error_response(request, 411, "length_required", message)
        has_body = declared_length > 0 or chunked
        if request.content_type == "application/json" or not has_body:
            return None
        message = _("Send the request body as JSON, with Content-Type: application/json.")
        return error_response(request, 415, "unsupported_media_type", message)


class BodySizeLimitMiddleware:
    """A body declared larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused (413) before anything
    reads it. Django refuses such a body itself, but of a multipart form it counts the fields
    only, not the files: no page here takes a file, yet any form would read an upload of any
    size to its end (the CSRF check parses it) and spool it to disk."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared_length = content_length(request)
        too_large = limit is not None and declared_length is not None and declared_length > limit
        if not too_large:
            return self.get_response(request)
        if request.path_info.startswith(API_PATH):
            return error_response(
                request, 413, "body_too_large", _("The request body is too large.")
            )
        context = {"form_url": form_page(request), "limit_kb": limit // 1024}
        return render(request, "errors/413.html", context, status=413)


def content_length(request: HttpRequest) -> int | None:
    """The body's declared length in bytes (0 if none is declared); None if it is no number."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    return int(declared) if declared.isascii() and declared.isdigit() else None


def is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class PermanentRedirectKeepingTheMethod(HttpResponsePermanentRedirect):
    status_code = 308


class SlashAppendingMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, but a form sent to an address without its trailing slash
    (`POST /signup`) is sent on with its method and body (308): Django answered 301, which
    browsers follow with a GET that drops the form, and raised an error page under DEBUG."""

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.method in ("GET", "HEAD") or response.status_code != 404:
            return super().process_response(request, response)
        if self.should_redirect_with_slash(request):
            return PermanentRedirectKeepingTheMethod(self.get_full_path_with_slash(request))
        return super().process_response(request, response)
