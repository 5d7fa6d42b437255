"""Where the signup webhook's deliveries stand, for the status page and /api/status/.

A webhook task that got a 5xx or no answer succeeds all the same: it records the attempt and
schedules the next one itself (webhooks.delivery). So the task queue's counts show none of
these failures; the deliveries and their attempts do."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import WebhookAttempt, WebhookDelivery

RECENT_FAILURES_SHOWN = 10


def webhook_status() -> dict[str, Any] | None:
    """None where no webhook is configured and none was ever sent."""
    if not settings.SIGNUP_WEBHOOK_URL and not WebhookDelivery.objects.exists():
        return None
    now = timezone.now()
    deliveries = WebhookDelivery.objects.order_by()
    failed_attempts = WebhookAttempt.objects.filter(
        Q(status_code__isnull=True) | ~Q(status_code__range=(200, 299)),
        attempted_at__gte=now - timedelta(hours=1),
    )
    return {
        "configured": bool(settings.SIGNUP_WEBHOOK_URL),
        "pending": deliveries.filter(status=WebhookDelivery.Status.PENDING).count(),
        "delivered_last_day": deliveries.filter(
            status=WebhookDelivery.Status.DELIVERED, created_at__gte=now - timedelta(days=1)
        ).count(),
        "failed": deliveries.filter(status=WebhookDelivery.Status.FAILED).count(),
        "failed_attempts_last_hour": failed_attempts.count(),
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
