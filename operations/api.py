"""The operations endpoint of the JSON API (mounted by portal.api at /api/)."""

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import django_auth

from portal.schemas import ErrorOut
from taskqueue.status import queue_status
from webhooks.status import webhook_status

router = Router(tags=["operations"])


class StatusOut(Schema):
    queue: dict
    last_hour: list[dict]
    retrying: list[dict]
    recent_failures: list[dict]
    clusters: list[dict]
    webhook: dict | None = None


@router.get(
    "/status/",
    response={200: StatusOut, 401: ErrorOut, 403: ErrorOut},
    auth=django_auth,
    url_name="status",
)
def task_status(request: HttpRequest) -> Status:
    """The task queue for staff (session log-in): depth, age, results, failures, clusters; and
    the signup webhook's deliveries, whose failed attempts are no failed tasks."""
    if not request.user.is_staff:
        raise HttpError(403, "Staff only.")  # told in the client's language (portal.api)
    return Status(200, {**queue_status(), "webhook": webhook_status()})
