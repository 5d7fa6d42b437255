from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.models import AuditRecord, EmailDelivery, User


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
