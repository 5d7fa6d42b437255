from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import ReadOnlyAdmin
from accounts.models import WebhookAttempt, WebhookDelivery
from webhooks.delivery import send_again


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
    actions = ["send_again"]

    @admin.display(description="attempts")
    def attempt_count(self, delivery: WebhookDelivery) -> int:
        return delivery.attempts.count()

    @admin.action(
        description="Send again (deliveries that failed for good)", permissions=["resend"]
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        sent = sum(send_again(delivery) for delivery in queryset)
        self.message_user(request, f"Queued one more attempt of {sent} failed delivery(ies).")
        if sent < queryset.count():
            self.message_user(
                request, "Deliveries that had not failed for good were left as they were."
            )

    def has_resend_permission(self, request: HttpRequest) -> bool:
        """Records are read-only here, but sending one again changes what the receiver gets."""
        return request.user.has_perm("accounts.change_webhookdelivery")
