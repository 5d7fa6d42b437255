"""Endpoints for the people who run the portal: probes and the staff status page."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from operations.readiness import readiness_report
from taskqueue.requeue import requeue_failed
from taskqueue.status import queue_status


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    ready, report = readiness_report()
    return JsonResponse(report, status=200 if ready else 503)


@staff_member_required
@never_cache
def status_page(request: HttpRequest) -> HttpResponse:
    return render(request, "operations/status.html", {"status": queue_status()})


@staff_member_required
@require_POST
def requeue(request: HttpRequest) -> HttpResponse:
    count = requeue_failed(request.POST.getlist("failure"))
    messages.success(request, f"Re-queued {count} failed task(s).")
    return redirect("operations:status")
