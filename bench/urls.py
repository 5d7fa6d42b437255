"""The portal's URLs plus two baselines with no queue, for comparison with POST /api/signups/:

- /bench/bare-signups/: a bare Django view (the baseline the targets are measured against);
- /bench/api/bare-signups/: the same insert through django-ninja with the API's own schemas, so
  that the report can tell the queue's share of the cost from the API framework's.
"""

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Status

from accounts.api import SignupIn, SignupOut
from accounts.models import User
from accounts.signup import hash_password, reject_taken, validate_account
from portal.urls import urlpatterns as portal_urlpatterns


def create_account(username: str, email: str, password: str | None) -> User:
    """Validation, the duplicate checks and the account insert of sign_up(), without the two
    task rows: what a hook that does nothing durable after the response would cost."""
    user = validate_account(
        username=username, email=email, password=password, password_confirmation=None
    )
    hash_password(user, password)
    reject_taken(user)
    with transaction.atomic():
        user.save()
    return user


@csrf_exempt
def bare_signup(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    user = create_account(data["username"], data["email"], data.get("password"))
    return JsonResponse({"message": "Account created", "username": user.username}, status=201)


bare_api = NinjaAPI(urls_namespace="bench-api", docs_url=None)


@bare_api.post("/bare-signups/", response={201: SignupOut})
def bare_api_signup(request: HttpRequest, payload: SignupIn) -> Status:
    user = create_account(payload.username, payload.email, payload.password)
    return Status(201, {"message": "Account created", "username": user.username})


urlpatterns = [
    path("bench/bare-signups/", bare_signup),
    path("bench/api/", bare_api.urls),
    *portal_urlpatterns,
]
