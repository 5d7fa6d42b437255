from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django_q.admin import FailAdmin
from django_q.models import Failure

from taskqueue.requeue import requeue_failures


class FailureAdmin(FailAdmin):
    """django-q2's failed-task admin, re-queueing through the same function as the command."""

    actions = ["requeue"]

    @admin.action(description="Re-queue selected failed tasks")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Failure]) -> None:
        count = requeue_failures(queryset)
        self.message_user(request, f"Re-queued {count} failed task(s).", messages.SUCCESS)


admin.site.unregister(Failure)
admin.site.register(Failure, FailureAdmin)
