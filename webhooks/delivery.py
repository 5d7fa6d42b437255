"""The signup webhook: a signed JSON event POSTed to SIGNUP_WEBHOOK_URL after each signup,
retried after growing delays on connection errors, 5xx answers and the 4xx that ask for a later
try (408, 425, 429); a delivery that failed for good can be sent again from the admin."""

import asyncio
import logging
import time
import uuid
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User, WebhookAttempt, WebhookDelivery
from taskqueue.context import failures_logged
from taskqueue.enqueue import enqueue, schedule_once
from webhooks.events import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    event_body,
    signature,
)

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
# Answers that say "not now" rather than "no": Request Timeout, Too Early, Too Many Requests.
TRY_LATER_ANSWERS = {408, 425, 429}


def queue_signup_webhook(user: User) -> None:
    """Must run inside the signup transaction, like the other signup tasks (see sign_up)."""
    if not settings.SIGNUP_WEBHOOK_URL:
        return
    delivery = WebhookDelivery.objects.create(
        event_id=uuid.uuid4(),
        event_type="account.created",
        user=user,
        url=settings.SIGNUP_WEBHOOK_URL,
    )
    enqueue(
        deliver_webhook,
        delivery.pk,
        1,
        task_name=f"webhook-{user.pk}-1",
        group="webhook",
    )


def deliver_webhook(delivery_id: int, attempt: int) -> str:
    """The task: make attempt number `attempt` of this delivery."""
    with failures_logged("deliver_webhook", f"webhook delivery {delivery_id}"):
        return attempt_delivery(delivery_id, attempt)


def attempt_delivery(delivery_id: int, number: int) -> str:
    """Make attempt `number`: POST, record it, then mark delivered or failed, or schedule the
    next attempt after a growing delay (connection errors, 5xx and TRY_LATER_ANSWERS only)."""
    delivery = WebhookDelivery.objects.select_related("user").filter(pk=delivery_id).first()
    if delivery is None:  # its account was deleted, and the delivery with it
        return "account deleted"
    if delivery.status != WebhookDelivery.Status.PENDING:
        return f"already {delivery.status}"
    if delivery.attempts.filter(number__gte=number).exists():
        return f"attempt {number} already made"
    status_code, error, duration_ms = post(delivery)
    try:
        with transaction.atomic():
            WebhookAttempt.objects.create(
                delivery=delivery,
                number=number,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
            outcome = conclude(delivery, number, status_code)
    except IntegrityError:
        return f"attempt {number} already made"
    log = {"delivered": logger.info, "failed": logger.error}.get(outcome, logger.warning)
    log(
        "webhook %s for account %s, attempt %s: %s -> %s",
        delivery.event_id,
        delivery.user_id,
        number,
        status_code or error,
        outcome,
    )
    return outcome


def post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    body = event_body(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "signup-portal-webhook/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(body, timestamp, settings.SIGNUP_WEBHOOK_SECRET),
        IDEMPOTENCY_HEADER: str(delivery.event_id),
    }
    started = time.monotonic()
    try:
        status_code, error = asyncio.run(post_within_deadline(delivery.url, body, headers)), ""
    except TimeoutError:
        status_code, error = None, f"no answer within {settings.WEBHOOK_TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        status_code, error = None, f"{type(exc).__name__}: {exc}"[:500]
    return status_code, error, int((time.monotonic() - started) * 1000)


async def post_within_deadline(url: str, body: bytes, headers: dict[str, str]) -> int:
    """One deadline for the whole exchange (httpx's timeouts are per operation, so a receiver
    dripping a byte at a time would hold the worker), and at most MAX_ANSWER_BYTES of the
    answer read: only its status matters."""
    async with asyncio.timeout(settings.WEBHOOK_TIMEOUT):
        async with (
            httpx.AsyncClient(timeout=settings.WEBHOOK_TIMEOUT) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received >= MAX_ANSWER_BYTES:
                    break
            return response.status_code


def conclude(delivery: WebhookDelivery, number: int, status_code: int | None) -> str:
    if status_code is not None and 200 <= status_code < 300:
        return set_status(delivery, WebhookDelivery.Status.DELIVERED)
    retryable = status_code is None or status_code >= 500 or status_code in TRY_LATER_ANSWERS
    delays = settings.WEBHOOK_RETRY_DELAYS
    if not retryable or number > len(delays):
        return set_status(delivery, WebhookDelivery.Status.FAILED)
    next_run = timezone.now() + timedelta(seconds=delays[number - 1])
    schedule_once(
        deliver_webhook,
        delivery.pk,
        number + 1,
        name=f"webhook-{delivery.event_id}-{number + 1}",
        at=next_run,
    )
    return f"retry {number + 1} at {next_run.isoformat()}"


def set_status(delivery: WebhookDelivery, status: str) -> str:
    delivery.status = status
    delivery.save(update_fields=["status"])
    return status


def send_again(delivery: WebhookDelivery) -> bool:
    """One more attempt of a delivery that failed for good (after the receiver is fixed);
    False if it had not failed. Should that attempt fail too, the delivery fails again."""
    with transaction.atomic():
        failed = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.FAILED
        ).update(status=WebhookDelivery.Status.PENDING)
        if not failed:
            return False
        number = (delivery.attempts.aggregate(last=Max("number"))["last"] or 0) + 1
        enqueue(
            deliver_webhook,
            delivery.pk,
            number,
            task_name=f"webhook-{delivery.user_id}-{number}",
            group="webhook",
        )
    return True
