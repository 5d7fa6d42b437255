"""The JSON API, mounted at /api/. Errors share one shape: a code, a message, and the fields."""

import logging

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.security import django_auth

from accounts.account_emails import request_account_email
from accounts.http import client_ip
from accounts.models import EmailRequest
from accounts.monitoring import queue_status
from accounts.services import SignupConflict, sign_up
from accounts.throttle import TooManyRequests

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Signup Portal API",
    version="1.0.0",
    description="Create accounts; the welcome email and the audit record follow after the answer.",
    urls_namespace="api",
)


class SignupIn(Schema):
    username: str = Field(max_length=150, examples=["alice"])
    email: str = Field(max_length=254, examples=["alice@example.com"])
    password: str | None = Field(
        default=None,
        max_length=4096,
        description="Optional: without one the account gets an unusable password.",
    )


class SignupOut(Schema):
    message: str = Field(examples=["Account created"])
    username: str = Field(examples=["alice"])


class FieldError(Schema):
    field: str
    code: str
    message: str


class ErrorOut(Schema):
    code: str = Field(description="Machine-readable, e.g. invalid, username_taken.")
    message: str
    field: str | None = Field(default=None, description="The field at fault, when there is one.")
    errors: list[FieldError] = Field(default_factory=list)


class EmailIn(Schema):
    email: str = Field(max_length=254, examples=["alice@example.com"])


class MessageOut(Schema):
    message: str


ERROR_RESPONSES = {400: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut, 503: ErrorOut}
EMAIL_REQUEST_RESPONSES = {
    202: MessageOut,
    400: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
    503: ErrorOut,
}
VERIFICATION_REQUESTED = (
    "If an account with this address is waiting for verification, a new link is on its way."
)
RESET_REQUESTED = (
    "If an account uses this address, an email with a link to choose a new password is on its way."
)


@api.post("/signups/", response={201: SignupOut, **ERROR_RESPONSES}, url_name="signup")
def create_signup(request: HttpRequest, payload: SignupIn) -> Status:
    """Create an account. Answers as soon as the account and its two tasks are committed."""
    user = sign_up(
        username=payload.username,
        email=payload.email,
        password=payload.password,
        source="api",
        ip_address=client_ip(request),
    )
    return Status(201, {"message": "Account created", "username": user.username})


@api.post("/email-verifications/", response=EMAIL_REQUEST_RESPONSES, url_name="email-verification")
def request_verification_email(request: HttpRequest, payload: EmailIn) -> Status:
    """Send a new verification link. The answer is the same whether or not the address has an
    account; at most a few requests per address and per client each hour."""
    request_account_email(
        EmailRequest.Kind.VERIFICATION, payload.email, ip_address=client_ip(request)
    )
    return Status(202, {"message": VERIFICATION_REQUESTED})


@api.post("/password-resets/", response=EMAIL_REQUEST_RESPONSES, url_name="password-reset")
def request_password_reset(request: HttpRequest, payload: EmailIn) -> Status:
    """Send a link to choose a new password. The answer never reveals whether the address has
    an account; at most a few requests per address and per client each hour."""
    request_account_email(
        EmailRequest.Kind.PASSWORD_RESET, payload.email, ip_address=client_ip(request)
    )
    return Status(202, {"message": RESET_REQUESTED})


class StatusOut(Schema):
    queue: dict
    last_hour: list[dict]
    recent_failures: list[dict]
    clusters: list[dict]


@api.get(
    "/status/",
    response={200: StatusOut, 401: ErrorOut, 403: ErrorOut},
    auth=django_auth,
    url_name="status",
)
def task_status(request: HttpRequest) -> Status:
    """The task queue for staff (session log-in): depth, age, results, failures, clusters."""
    if not request.user.is_staff:
        raise HttpError(403, "Staff only.")
    return Status(200, queue_status())


def error_response(
    request: HttpRequest, status: int, code: str, message: str, errors: list[dict] | None = None
) -> HttpResponse:
    errors = errors or []
    fields = {error["field"] for error in errors}
    field = fields.pop() if len(fields) == 1 else None
    body = {"code": code, "message": message, "field": field, "errors": errors}
    return api.create_response(request, body, status=status)


@api.exception_handler(SchemaValidationError)
def schema_invalid(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    errors = [
        {
            "field": field_name(error["loc"]),
            "code": "required" if error["type"] == "missing" else error["type"],
            "message": error["msg"],
        }
        for error in exc.errors
    ]
    return error_response(request, 422, "invalid", "The request has invalid fields.", errors)


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
    return error_response(request, 422, "invalid", "The request has invalid fields.", errors)


@api.exception_handler(SignupConflict)
def account_conflict(request: HttpRequest, exc: SignupConflict) -> HttpResponse:
    errors = [{"field": exc.field, "code": exc.code, "message": exc.message}]
    return error_response(request, 409, exc.code, exc.message, errors)


@api.exception_handler(TooManyRequests)
def too_many_requests(request: HttpRequest, exc: TooManyRequests) -> HttpResponse:
    response = error_response(request, 429, "rate_limited", str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(request, 400, "malformed_json", "The request body is not valid JSON.")
    codes = {401: "not_authenticated", 403: "forbidden"}
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, "body_too_large", "The request body is too large.")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Nothing was committed, so nothing was written or queued: the client can retry."""
    logger.error("database unavailable during %s %s: %s", request.method, request.path, exc)
    message = "The service is temporarily unavailable. Nothing was saved; please retry shortly."
    return error_response(request, 503, "database_unavailable", message)
