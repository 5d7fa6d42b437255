"""The signup webhook's event: its JSON body and its signature.

Receivers verify it like this (docs/api.md, "Webhook"): take the raw body and the
X-Portal-Timestamp header, compute HMAC-SHA256 over f"{timestamp}.".encode() + body with the
shared secret, compare with the hex digest after "sha256=" in X-Portal-Signature, and reject
timestamps older than a few minutes. Idempotency-Key (the event id) identifies redeliveries.
"""

import hashlib
import hmac
import json
import time

from accounts.models import WebhookDelivery

SIGNATURE_HEADER = "X-Portal-Signature"
TIMESTAMP_HEADER = "X-Portal-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def event_body(delivery: WebhookDelivery) -> bytes:
    user = delivery.user
    event = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created": delivery.created_at.isoformat(),
        "data": {
            "account": {
                "id": user.pk,
                "username": user.username,
                "email": user.email,
                "created_at": user.date_joined.isoformat(),
            }
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signature(body: bytes, timestamp: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signature_is_valid(
    body: bytes, timestamp: str, received: str, secret: str, tolerance: int = 300
) -> bool:
    """What a receiver does; used by the tests."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(body, int(timestamp), secret), received)
