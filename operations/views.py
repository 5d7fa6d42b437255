"""Endpoints for the people who run the portal: probes and the staff status page."""

import hmac
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from accounts.http import client_ip
from operations.charts import charts, drawing, windows
from operations.metrics import registry
from operations.readiness import CHECKS, readiness_report
from taskqueue.requeue import requeue_failed
from taskqueue.requeue import retry_now as retry_waiting_now
from taskqueue.results import sample_queue_unless_sampled
from taskqueue.status import queue_status
from webhooks.status import webhook_status

logger = logging.getLogger(__name__)

# Every staff member may read the status page; re-queueing a failed task or bringing a retry
# forward takes the permission to change failed tasks (superusers have it), and the admin's list
# of them the permission to view them.
ACT_ON_TASKS = "django_q.change_failure"
VIEW_FAILED_TASKS = "django_q.view_failure"


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """The details for staff and for whoever may read the metrics; a verdict per check for
    anybody (a load balancer's probe reads the status code). `?checks=database,migrations`
    runs only those."""
    names = [name for name in request.GET.get("checks", "").split(",") if name]
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        message = _("No such check: %(names)s. The checks are %(checks)s.") % {
            "names": ", ".join(unknown),
            "checks": ", ".join(CHECKS),
        }
        return JsonResponse({"code": "unknown_check", "message": message}, status=400)
    detailed = scrape_allowed(request) or staff_session(request)
    ready, report = readiness_report(detailed=detailed, names=names)
    return JsonResponse(report, status=200 if ready else 503)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """For Prometheus: with `Authorization: Bearer <METRICS_TOKEN>`, or from an address in
    METRICS_ALLOWED_IPS; nobody otherwise (both are empty by default)."""
    if not scrape_allowed(request):
        response = HttpResponse("Metrics need a token.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def staff_session(request: HttpRequest) -> bool:
    """The session is read from the database, which may be the check that fails: then the
    caller gets the verdicts, not an error page."""
    try:
        return request.user.is_staff
    except DatabaseError:
        return False


def scrape_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = bearer_token(request)
    if token and given is not None and hmac.compare_digest(given.encode(), token.encode()):
        return True
    return client_ip(request) in settings.METRICS_ALLOWED_IPS


def bearer_token(request: HttpRequest) -> str | None:
    """The credentials of `Authorization: Bearer <token>` (the scheme in any case, RFC 7235),
    or None. The token works in that one form, the one Prometheus sends: a bare token or one
    under another scheme is refused, as no client of ours sends it so."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


@staff_member_required
@never_cache
def status_page(request: HttpRequest) -> HttpResponse:
    try:
        sample_queue_unless_sampled()
    except DatabaseError:  # a locked or busy database: the page shows what it has
        logger.warning("could not sample the queue for the status page", exc_info=True)
    pictures = [
        (window, [drawing(chart, window) for chart in charts(window)]) for window in windows()
    ]
    context = {
        "status": queue_status(),
        "webhook": webhook_status(),
        "pictures": pictures,
        "refresh_seconds": settings.STATUS_REFRESH_SECONDS,
        "may_act_on_tasks": request.user.has_perm(ACT_ON_TASKS),
        "may_view_failed_tasks": request.user.has_perm(VIEW_FAILED_TASKS),
        "may_view_webhook_deliveries": request.user.has_perm("accounts.view_webhookdelivery"),
    }
    return render(request, "operations/status.html", context)


@staff_member_required
@permission_required(ACT_ON_TASKS, raise_exception=True)
@require_POST
def requeue(request: HttpRequest) -> HttpResponse:
    ticked = request.POST.getlist("failure")
    if not ticked:
        messages.warning(request, _("Nothing was re-queued: tick the failed tasks to re-queue."))
        return redirect("operations:status")
    count = requeue_failed(ticked)
    messages.success(
        request,
        ngettext("Re-queued %(count)d failed task.", "Re-queued %(count)d failed tasks.", count)
        % {"count": count},
    )
    if count < len(ticked):
        messages.warning(
            request,
            _(
                "Some were not re-queued: already re-queued, or waiting for their next attempt"
                " (the log says which)."
            ),
        )
    return redirect("operations:status")


@staff_member_required
@permission_required(ACT_ON_TASKS, raise_exception=True)
@require_POST
def retry_now(request: HttpRequest) -> HttpResponse:
    count = retry_waiting_now(request.POST.getlist("task"))
    if count:
        messages.success(
            request,
            ngettext(
                "The next attempt of %(count)d task comes now.",
                "The next attempts of %(count)d tasks come now.",
                count,
            )
            % {"count": count},
        )
    else:
        messages.warning(request, _("That task is no longer waiting to retry."))
    return redirect("operations:status")
