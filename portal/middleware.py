from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _


class JsonApiMiddleware:
    """The JSON API reads JSON bodies only. A body of another type is refused with 415 before it
    is parsed: an HTML form on any site can post text/plain across origins without a CORS
    preflight, and would otherwise create accounts and send emails from a visitor's browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], *args: object
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.namespace != "api" or request.method != "POST":
            return None
        has_body = (
            int(request.META.get("CONTENT_LENGTH") or 0) > 0
            or "HTTP_TRANSFER_ENCODING" in request.META  # a chunked body has no length
        )
        if request.content_type == "application/json" or not has_body:
            return None
        body = {
            "code": "unsupported_media_type",
            "message": _("Send the request body as JSON, with Content-Type: application/json."),
            "field": None,
            "errors": [],
        }
        return JsonResponse(body, status=415)
