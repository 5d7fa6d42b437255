import json
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from bench.peers.celery_peer.models import Account
from bench.peers.celery_peer.tasks import record_signup, send_welcome_email


def create_account(username: str, email: str, source: str) -> Account:
    """The account, and its two tasks sent to Redis once it committed (on_commit)."""
    with transaction.atomic():
        account = Account.objects.create(username=username, email=email)
        transaction.on_commit(partial(send_welcome_email.delay, account.pk))
        transaction.on_commit(partial(record_signup.delay, account.pk, source))
    return account


def signups_per_client(group: str, request: HttpRequest) -> str:
    return f"{settings.SIGNUPS_PER_CLIENT_HOURLY}/h"


@csrf_exempt
@require_POST
@ratelimit(key="ip", rate=signups_per_client, block=False)
def signup(request: HttpRequest) -> JsonResponse:
    if request.limited:
        return JsonResponse({"message": "Too many signups from your network"}, status=429)
    try:
        data = json.loads(request.body)
        username, email = str(data["username"]), str(data["email"])
        validate_email(email)
    except (ValueError, KeyError, TypeError, ValidationError):
        return JsonResponse({"message": "Invalid signup"}, status=422)
    if not 0 < len(username) <= 150:
        return JsonResponse({"message": "Invalid username"}, status=422)
    try:
        account = create_account(username, email, "api")
    except IntegrityError:
        return JsonResponse({"message": "Username or email taken"}, status=409)
    return JsonResponse({"message": "Account created", "username": account.username}, status=201)
