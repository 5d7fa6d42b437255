from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django_q.admin import FailAdmin
from django_q.models import Failure

from taskqueue.models import ScheduledRetry
from taskqueue.requeue import requeue_failures
from taskqueue.status import attempts_in_all


class FailureState(admin.SimpleListFilter):
    """A failure whose task will be tried again is not failed yet."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("failed", "Failed for good"), ("retrying", "Waiting to retry")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Failure]) -> QuerySet[Failure]:
        retrying = ScheduledRetry.objects.queued().values("task_id")
        if self.value() == "failed":
            return queryset.exclude(id__in=retrying)
        if self.value() == "retrying":
            return queryset.filter(id__in=retrying)
        return queryset


class FailureAdmin(FailAdmin):
    """django-q2's failed-task admin, telling retrying from failed for good, and re-queueing
    through the same function as the command (which skips tasks still waiting to retry)."""

    list_display = ("name", "state", "func", "stopped", "short_result")
    list_filter = (FailureState, "group")
    actions = ["requeue"]

    @admin.display(description="state")
    def state(self, failure: Failure) -> str:
        retry = ScheduledRetry.objects.queued().filter(task_id=failure.id).first()
        if retry is None:
            return f"failed for good after {failure.attempt_count} attempt(s)"
        wait = max(0, int((retry.next_attempt_at - timezone.now()).total_seconds()))
        return (
            f"attempt {retry.attempts_made} of {attempts_in_all(retry.attempts_made)} failed; "
            f"next in {wait} s ({retry.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC)"
        )

    @admin.action(description="Re-queue selected failed tasks")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Failure]) -> None:
        count = requeue_failures(queryset)
        self.message_user(request, f"Re-queued {count} failed task(s).", messages.SUCCESS)


admin.site.unregister(Failure)
admin.site.register(Failure, FailureAdmin)
