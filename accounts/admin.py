from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_q.admin import FailAdmin
from django_q.models import Failure

from accounts.models import AuditRecord, EmailDelivery, User, WebhookAttempt, WebhookDelivery
from accounts.requeue import requeue_failed_tasks


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "date_joined", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "date_joined"]
    ordering = ["-date_joined"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by workers: operators read them, nobody edits them by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "action", "user", "source", "ip_address", "recorded_at"]
    list_filter = ["action", "source"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "kind", "user", "message_id"]
    list_filter = ["kind"]
    search_fields = ["user__username", "user__email", "message_id"]
    list_select_related = ["user"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event_type", "user", "status", "attempt_count", "url"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "user__username"]
    list_select_related = ["user"]
    inlines = [WebhookAttemptInline]

    @admin.display(description="attempts")
    def attempt_count(self, delivery: WebhookDelivery) -> int:
        return delivery.attempts.count()


class FailureAdmin(FailAdmin):
    """django-q2's failed-task admin, re-queueing through the same function as the command."""

    actions = ["requeue"]

    @admin.action(description="Re-queue selected failed tasks")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Failure]) -> None:
        count = requeue_failed_tasks(queryset)
        self.message_user(request, f"Re-queued {count} failed task(s).", messages.SUCCESS)


admin.site.unregister(Failure)
admin.site.register(Failure, FailureAdmin)
