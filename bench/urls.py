"""The portal's URLs plus /bench/bare-signups/: the same signup with no queue, for comparison."""

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.services import build_account, reject_taken
from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
def bare_signup(request: HttpRequest) -> JsonResponse:
    """Validation, the duplicate checks and the account insert of sign_up(), without the two
    task rows: what a hook that does nothing durable after the response would cost."""
    data = json.loads(request.body)
    user = build_account(
        username=data["username"], email=data["email"], password=data.get("password")
    )
    reject_taken(user)
    with transaction.atomic():
        user.save()
    return JsonResponse({"message": "Account created", "username": user.username}, status=201)


urlpatterns = [path("bench/bare-signups/", bare_signup), *portal_urlpatterns]
