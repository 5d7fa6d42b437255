"""Where the signup webhook's deliveries stand, for the status page and /api/status/.

A webhook task that got a 5xx or no answer succeeds all the same: it records the attempt and
schedules the next one itself (webhooks.delivery). So the task queue's counts show none of
these failures; the deliveries and their attempts do."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import WebhookAttempt, WebhookDelivery

RECENT_FAILURES_SHOWN = 10


def webhook_status() -> dict[str, Any] | None:
    """None where no webhook is configured and none was ever sent."""
    counts = dict(
        WebhookDelivery.objects.values_list("status").annotate(count=Count("id")).order_by()
    )
    if not settings.SIGNUP_WEBHOOK_URL and not counts:
        return None
    hour_ago = timezone.now() - timedelta(hours=1)
    failed_attempts = WebhookAttempt.objects.filter(
        Q(status_code__isnull=True) | ~Q(status_code__range=(200, 299)), attempted_at__gte=hour_ago
    ).count()
    return {
        "configured": bool(settings.SIGNUP_WEBHOOK_URL),
        "pending": counts.get(WebhookDelivery.Status.PENDING, 0),
        "delivered": counts.get(WebhookDelivery.Status.DELIVERED, 0),
        "failed": counts.get(WebhookDelivery.Status.FAILED, 0),
        "failed_attempts_last_hour": failed_attempts,
        "recent_failures": [describe(delivery) for delivery in recent_failures()],
    }


def recent_failures() -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED)
        .select_related("user")
        .prefetch_related("attempts")
        .order_by("-created_at")[:RECENT_FAILURES_SHOWN]
    )


def describe(delivery: WebhookDelivery) -> dict[str, Any]:
    attempts = sorted(delivery.attempts.all(), key=lambda attempt: attempt.number)
    last = attempts[-1] if attempts else None
    return {
        "event_id": str(delivery.event_id),
        "username": delivery.user.username,
        "attempts": len(attempts),
        "last_attempt_at": last.attempted_at if last else None,
        "last_answer": (str(last.status_code) if last.status_code else last.error) if last else "",
    }
