from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import AuditRecord, EmailDelivery, User
from accounts.throttle import lift_login_lock


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "date_joined", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "date_joined"]
    ordering = ["-date_joined"]
    actions = ["lift_login_lock"]

    @admin.action(description="Lift log-in lock")
    def lift_login_lock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Failed log-ins for these usernames are forgotten (those counted per client stay)."""
        for user in queryset:
            lift_login_lock(username=user.username)
        self.message_user(request, f"Lifted the log-in lock of {queryset.count()} account(s).")


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
