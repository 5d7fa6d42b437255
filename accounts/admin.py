from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from accounts.emails.requests import queue_account_email
from accounts.identity import clean_email
from accounts.models import AuditRecord, EmailDelivery, User
from accounts.signup import TAKEN_MESSAGES
from accounts.story import account_story
from accounts.tasks import send_welcome_email
from accounts.throttle import lift_login_lock
from taskqueue.enqueue import enqueue


class AccountChangeForm(UserChangeForm):
    """A username or an address that another account has in another letter case is told as
    taken, as at signup: the form's own checks compare them as typed, and the database's
    case-blind constraints then failed the save (a 500). The address is stored in its
    canonical form, as at signup."""

    class Meta(UserChangeForm.Meta):
        model = User

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.with_username(username).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(TAKEN_MESSAGES["username"], code="username_taken")
        return username

    def clean_email(self) -> str:
        email = clean_email(self.cleaned_data["email"])
        if User.objects.with_email(email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(TAKEN_MESSAGES["email"], code="email_taken")
        return email


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = AccountChangeForm
    list_display = ["username", "email", "date_joined", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "date_joined"]
    ordering = ["-date_joined"]
    actions = ["lift_login_lock", "queue_welcome_email", "send_verification_link"]
    readonly_fields = ["story"]
    fieldsets = [
        DjangoUserAdmin.fieldsets[0],
        ("Story", {"fields": ["story"]}),
        *DjangoUserAdmin.fieldsets[1:],
    ]

    @admin.display(description="What happened to this account, oldest first")
    def story(self, user: User) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{event.when:%Y-%m-%d %H:%M:%S}", event.what, event.detail)
                for event in account_story(user)
            ),
        )
        return format_html(
            "<table><thead><tr><th>When (UTC)</th><th>What</th><th>Detail</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Queue the welcome email again (sent only if it never was)")
    def queue_welcome_email(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            enqueue(
                send_welcome_email, user.pk, task_name=f"welcome-email-{user.pk}", group="signup"
            )
        self.message_user(request, f"Queued the welcome email of {queryset.count()} account(s).")

    @admin.action(description="Send a new verification link")
    def send_verification_link(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.filter(email_verified_at__isnull=True):
            queue_account_email(EmailDelivery.Kind.VERIFICATION, user)
        self.message_user(request, "Queued a verification link for each unverified account.")

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
