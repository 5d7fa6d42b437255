"""/metrics for Prometheus: every figure read from the database when scraped, so that any
number of web processes answer alike and the workers need no exporter of their own."""

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from accounts.models import AuditRecord, EmailDelivery, WebhookAttempt
from taskqueue.enqueue import process_broker
from taskqueue.status import (
    clusters_reporting,
    failed_for_good_by_task,
    oldest_queued_age,
    results_since,
    waiting_to_retry_by_task,
)

HANDOVER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PortalCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from queue_metrics()
        yield from task_metrics()
        yield from account_metrics()
        yield email_handover_histogram()
        yield webhook_attempts()


def queue_metrics() -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "portal_queue_depth",
        "Tasks queued and not yet acknowledged.",
        process_broker().queue_size(),
    )
    yield GaugeMetricFamily(
        "portal_queue_oldest_age_seconds",
        "How long the oldest task ready to run has waited (0: none waits).",
        oldest_queued_age() or 0,
    )
    yield GaugeMetricFamily(
        "portal_clusters_reporting",
        "qcluster processes that reported in the last few seconds.",
        len(clusters_reporting()),
    )


def task_metrics() -> Iterator[Metric]:
    """Gauges, not counters: django-q2's results are pruned, so they count what is kept."""
    finished = GaugeMetricFamily(
        "portal_tasks_finished_last_hour",
        "In the last hour, by task: tasks that succeeded, and attempts that failed.",
        labels=["task", "outcome"],
    )
    for row in results_since(timezone.now() - timedelta(hours=1)):
        finished.add_metric([row["func"], "succeeded"], row["succeeded"])
        finished.add_metric([row["func"], "failed"], row["failed"])
    yield finished
    for name, documentation, counts in [
        ("portal_tasks_waiting_to_retry", "Tasks waiting for their next attempt.",
         waiting_to_retry_by_task()),
        ("portal_tasks_failed_for_good", "Tasks with no attempt left, until re-queued.",
         failed_for_good_by_task()),
    ]:  # fmt: skip
        gauge = GaugeMetricFamily(name, documentation, labels=["task"])
        for task, count in counts.items():
            gauge.add_metric([task], count)
        yield gauge


def account_metrics() -> Iterator[Metric]:
    signups = CounterMetricFamily(
        "portal_signups", "Signups recorded by the workers, by source.", labels=["source"]
    )
    by_source = AuditRecord.objects.filter(action=AuditRecord.Action.SIGNUP).values("source")
    for row in by_source.annotate(count=Count("id")):
        signups.add_metric([row["source"]], row["count"])
    yield signups
    emails = CounterMetricFamily(
        "portal_emails_sent", "Emails handed to the mail server, by kind.", labels=["kind"]
    )
    for row in EmailDelivery.objects.values("kind").annotate(count=Count("id")):
        emails.add_metric([row["kind"]], row["count"])
    yield emails


def email_handover_histogram() -> Metric:
    timed = EmailDelivery.objects.filter(handover_ms__isnull=False)
    counts = timed.aggregate(
        total=Count("id"),
        milliseconds=Sum("handover_ms"),
        **{
            f"le_{index}": Count("id", filter=Q(handover_ms__lte=bound * 1000))
            for index, bound in enumerate(HANDOVER_BUCKETS)
        },
    )
    buckets = [(str(bound), counts[f"le_{index}"]) for index, bound in enumerate(HANDOVER_BUCKETS)]
    return HistogramMetricFamily(
        "portal_email_handover_seconds",
        "How long the mail server took to accept each email.",
        buckets=[*buckets, ("+Inf", counts["total"])],
        sum_value=(counts["milliseconds"] or 0) / 1000,
    )


def webhook_attempts() -> Metric:
    attempts = CounterMetricFamily(
        "portal_webhook_attempts",
        "Webhook POSTs, by outcome: 2xx, 4xx, 5xx, or error (no answer).",
        labels=["outcome"],
    )
    outcomes = WebhookAttempt.objects.aggregate(
        ok=Count("id", filter=Q(status_code__gte=200, status_code__lt=300)),
        client_error=Count("id", filter=Q(status_code__gte=400, status_code__lt=500)),
        server_error=Count("id", filter=Q(status_code__gte=500)),
        error=Count("id", filter=Q(status_code__isnull=True)),
    )
    for label, key in [("2xx", "ok"), ("4xx", "client_error"), ("5xx", "server_error"),
                       ("error", "error")]:  # fmt: skip
        attempts.add_metric([label], outcomes[key])
    return attempts


registry = CollectorRegistry(auto_describe=False)
registry.register(PortalCollector())
