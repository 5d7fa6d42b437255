from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import ReadOnlyAdmin
from accounts.models import WebhookAttempt, WebhookDelivery


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
