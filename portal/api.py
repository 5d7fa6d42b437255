"""The JSON API, mounted at /api/: one NinjaAPI, the routers of the apps, and one error shape
for every answer that is not a success: a code, a message, and the fields at fault."""

import json
import logging

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as SchemaValidationError

from accounts.api import router as accounts_router
from accounts.signup import SignupConflict
from operations.api import router as operations_router
from throttling.limits import RateLimited

logger = logging.getLogger(__name__)

API_PATH = "/api/"


def error_example(code: str, message: str, field: str | None = None) -> dict:
    errors = [{"field": field, "code": code, "message": message}] if field else []
    return {"code": code, "message": message, "field": field, "errors": errors}


# What each error status of the API really answers, shown in the API docs beside the schema.
ERROR_EXAMPLES = {
    400: error_example("malformed_json", "The request body is not valid JSON."),
    409: error_example(
        "username_taken", "An account with this username already exists.", "username"
    ),
    411: error_example(
        "length_required", "Send the body with a Content-Length header, not in chunks."
    ),
    413: error_example("body_too_large", "The request body is too large."),
    415: error_example(
        "unsupported_media_type",
        "Send the request body as JSON, with Content-Type: application/json.",
    ),
    422: {
        "code": "invalid",
        "message": "The request has invalid fields.",
        "field": "email",
        "errors": [
            {
                "field": "email",
                "code": "invalid",
                "message": "Enter a valid email address. An email address must have an @-sign.",
            }
        ],
    },
    429: error_example(
        "rate_limited", "Too many requests from your network. Try again in 56 minutes."
    ),
    503: error_example(
        "database_unavailable",
        "The service is temporarily unavailable. Nothing was saved; please retry shortly.",
    ),
}


class PortalAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: object) -> dict:
        """Each error answer documented with a real example, not the schema's placeholders."""
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    example = ERROR_EXAMPLES.get(int(status))
                    if example and "content" in response:
                        response["content"]["application/json"]["example"] = example
        return schema


api = PortalAPI(
    title="Signup Portal API",
    version="1.0.0",
    description="Create accounts; the welcome email and the audit record follow after the answer.",
    urls_namespace="api",
)
api.add_router("", accounts_router)
api.add_router("", operations_router)


def error_response(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    errors: list[dict] | None = None,
    *,
    field: str | None = None,
) -> HttpResponse:
    """`field` is the one field at fault; by default the one the errors name, if only one."""
    errors = errors or []
    fields = {error["field"] for error in errors}
    field = field or (fields.pop() if len(fields) == 1 else None)
    body = {"code": code, "message": message, "field": field, "errors": errors}
    return api.create_response(request, body, status=status)


# The schema's refusals in the reader's language; pydantic's own words for the rarer ones.
SCHEMA_MESSAGES = {
    "missing": gettext_lazy("This field is required."),
    "string_type": gettext_lazy("Enter text, in quotes."),
    "string_too_long": gettext_lazy("Enter at most %(max_length)d characters."),
    # An optional field sent empty: the password, which may be left out.
    "string_too_short": gettext_lazy("Leave this field out, or give it a value."),
    "model_attributes_type": gettext_lazy("Send a JSON object."),
}


@api.exception_handler(SchemaValidationError)
def schema_invalid(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    if not body_is_an_object(request):  # django-ninja reads [] or null as {}: "required"
        error = {"type": "model_attributes_type", "loc": ("body", "payload")}
        exc = SchemaValidationError([error])
    errors = [
        {
            "field": field_name(error["loc"]),
            "code": "required" if error["type"] == "missing" else error["type"],
            "message": schema_message(error),
        }
        for error in exc.errors
    ]
    return error_response(request, 422, "invalid", _("The request has invalid fields."), errors)


def body_is_an_object(request: HttpRequest) -> bool:
    """Only asked of a body that failed the schema, so at most once per refused request."""
    try:
        return isinstance(json.loads(request.body or b"{}"), dict)
    except ValueError:
        return True  # not JSON at all: answered on its own (malformed_json)


def schema_message(error: dict) -> str:
    message = SCHEMA_MESSAGES.get(error["type"])
    return str(message) % error.get("ctx", {}) if message else error["msg"]


def field_name(location: tuple | list) -> str:
    """('body', 'payload', 'email') -> 'email'; the whole body when no field is named."""
    names = [str(part) for part in location[2:]]
    return ".".join(names) or "body"


@api.exception_handler(ValidationError)
def account_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"field": field, "code": error.code or "invalid", "message": " ".join(error.messages)}
        for field, field_errors in exc.error_dict.items()
        for error in field_errors
    ]
    return error_response(request, 422, "invalid", _("The request has invalid fields."), errors)


@api.exception_handler(SignupConflict)
def account_conflict(request: HttpRequest, exc: SignupConflict) -> HttpResponse:
    errors = [
        {"field": field, "code": error.code, "message": error.message}
        for field, error in exc.errors().items()
    ]
    return error_response(request, 409, exc.code, exc.message, errors, field=exc.field)


@api.exception_handler(RateLimited)
def too_many_requests(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error_response(request, 429, "rate_limited", str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


# The API's only endpoint behind a log-in is the staff status (/api/status/).
ACCESS_REFUSED = {
    401: ("not_authenticated", gettext_lazy("Log in as a staff member first.")),
    403: ("forbidden", gettext_lazy("Only staff members may see this.")),
}


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(
            request, 400, "malformed_json", _("The request body is not valid JSON.")
        )
    if exc.status_code in ACCESS_REFUSED:  # ninja's own text is English ("Unauthorized")
        code, message = ACCESS_REFUSED[exc.status_code]
        return error_response(request, exc.status_code, code, str(message))
    return error_response(request, exc.status_code, "error", str(exc))


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, "body_too_large", _("The request body is too large."))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Nothing was committed, so nothing was written or queued: the client can retry."""
    logger.error("database unavailable during %s %s: %s", request.method, request.path, exc)
    message = _("The service is temporarily unavailable. Nothing was saved; please retry shortly.")
    return error_response(request, 503, "database_unavailable", message)
