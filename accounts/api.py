"""The account endpoints of the JSON API (mounted by portal.api at /api/)."""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Router, Schema, Status

from accounts.emails.requests import request_account_email
from accounts.forms import PASSWORD_MAX_LENGTH
from accounts.http import client_ip
from accounts.models import EmailDelivery
from accounts.signup import sign_up
from portal.schemas import ErrorOut

router = Router(tags=["accounts"])


class SignupIn(Schema):
    username: str = Field(max_length=150, examples=["alice"])
    email: str = Field(max_length=254, examples=["alice@example.com"])
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=PASSWORD_MAX_LENGTH,
        description="Optional: without one the welcome email carries a link to choose one.",
        examples=["correct-horse-battery-staple"],
    )


class SignupOut(Schema):
    message: str = Field(examples=["Account created"])
    username: str = Field(examples=["alice"])


class EmailIn(Schema):
    email: str = Field(max_length=254, examples=["alice@example.com"])


class MessageOut(Schema):
    message: str


ERROR_RESPONSES = {
    400: ErrorOut,
    409: ErrorOut,
    411: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
    503: ErrorOut,
}
EMAIL_REQUEST_RESPONSES = {
    202: MessageOut,
    400: ErrorOut,
    411: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
    503: ErrorOut,
}
VERIFICATION_REQUESTED = gettext_lazy(
    "If an account with this address is waiting for verification, a new link is on its way."
)
RESET_REQUESTED = gettext_lazy(
    "If an account uses this address, an email with a link to choose a new password is on its way."
)


@router.post("/signups/", response={201: SignupOut, **ERROR_RESPONSES}, url_name="signup")
def create_signup(request: HttpRequest, payload: SignupIn) -> Status:
    """Create an account. Answers as soon as the account and its tasks (welcome email, audit
    record, webhook event if configured) are committed."""
    user = sign_up(
        username=payload.username,
        email=payload.email,
        password=payload.password,
        source="api",
        ip_address=client_ip(request),
    )
    return Status(201, {"message": _("Account created"), "username": user.username})


@router.post(
    "/email-verifications/", response=EMAIL_REQUEST_RESPONSES, url_name="email-verification"
)
def request_verification_email(request: HttpRequest, payload: EmailIn) -> Status:
    """Send a new verification link. The answer is the same whether or not the address has an
    account; at most a few requests per address and per client each hour."""
    request_account_email(
        EmailDelivery.Kind.VERIFICATION, payload.email, ip_address=client_ip(request)
    )
    return Status(202, {"message": str(VERIFICATION_REQUESTED)})


@router.post("/password-resets/", response=EMAIL_REQUEST_RESPONSES, url_name="password-reset")
def request_password_reset(request: HttpRequest, payload: EmailIn) -> Status:
    """Send a link to choose a new password. The answer never reveals whether the address has
    an account; at most a few requests per address and per client each hour."""
    request_account_email(
        EmailDelivery.Kind.PASSWORD_RESET, payload.email, ip_address=client_ip(request)
    )
    return Status(202, {"message": str(RESET_REQUESTED)})
