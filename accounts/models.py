from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from accounts.identity import USERNAME_KEY_LENGTH, username_key


def same_lower_case(field: str, value: str) -> Exact:
    """LOWER(field) = LOWER(value): the form of the unique expression indexes, so they are used.

    `field__iexact` compiles to UPPER() or LIKE, which no index here serves: every lookup would
    scan the whole table. The database lowers both sides, so they are lowered the same way.
    """
    return Exact(Lower(field), Lower(Value(value)))


class AccountManager(UserManager):
    def with_username(self, username: str) -> QuerySet["User"]:
        """Accounts whose username is `username` in any letter case of any script (one at most)."""
        return self.filter(username_key=username_key(username))

    def with_email(self, email: str) -> QuerySet["User"]:
        """Accounts whose email equals `email`, ignoring letter case (one at most)."""
        return self.filter(same_lower_case("email", email))

    def get_by_natural_key(self, username: str) -> "User":
        """Log-in finds "Alice" as "alice": the database lets only one of them exist."""
        return self.with_username(username).get()


class User(AbstractUser):
    """The portal's account: username and email are each unique regardless of letter case."""

    email = models.EmailField(
        "email address",
        max_length=254,
        help_text="Stored in one form: the domain lowercased and IDNA-folded, nothing invisible.",
    )
    username_key = models.CharField(
        max_length=USERNAME_KEY_LENGTH,
        unique=True,
        editable=False,
        help_text="The username in the form that compares equal in any letter case.",
    )
    email_verified_at = models.DateTimeField("email verified", null=True, blank=True)
    language = models.CharField(
        max_length=10,
        blank=True,
        default="",
        help_text="The language the person signed up in: their emails are written in it.",
    )

    objects = AccountManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(condition=~Q(email=""), name="accounts_user_email_not_empty"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_key"}
        super().save(*args, **kwargs)

    @property
    def is_email_verified(self) -> bool:
        return self.email_verified_at is not None


class AuditRecord(models.Model):
    """Something that happened to an account, written by a worker after the response."""

    class Action(models.TextChoices):
        SIGNUP = "signup", "Signed up"
        EMAIL_VERIFIED = "email_verified", "Verified the email address"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Failed to log in"
        LOGIN_LOCKED_OUT = "login_locked_out", "Locked out after failed log-ins"
        EMAIL_CORRECTED = "email_corrected", "Corrected the email address after signing up"
        PASSWORD_CHANGED = "password_changed", "Changed the password"

    event_id = models.UUIDField(
        unique=True, null=True, blank=True, help_text="Makes a redelivered task write nothing."
    )
    # An account deleted (a spam account, a request for erasure) takes its records with it, as
    # it does its email and webhook deliveries; the admin's history keeps that it was deleted.
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="audit_records", null=True, blank=True
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="As typed, for failed log-ins."
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    source = models.CharField(max_length=16, help_text="Where the request came from: web or api.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(help_text="When the user did it.")
    recorded_at = models.DateTimeField(auto_now_add=True, help_text="When a worker wrote it.")

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            # A redelivered record_signup task must not write a second record.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(action="signup"),
                name="accounts_auditrecord_one_signup_per_user",
            ),
        ]

    def __str__(self) -> str:
        who = f"account {self.user_id}" if self.user_id else self.username
        return f"{self.get_action_display()}, {who}, at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class EmailDelivery(models.Model):
    """An email handed to the mail server, so that a redelivered task does not send it again."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"
        VERIFICATION = "verification", "Email verification"
        PASSWORD_RESET = "password_reset", "Password reset"
        SIGNUP_ATTEMPT = "signup_attempt", "Someone tried to sign up with the address"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_deliveries")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message_id = models.CharField(max_length=255, unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    handover_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long the mail server took to accept it."
    )

    class Meta:
        ordering = ["-sent_at"]
        verbose_name_plural = "email deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(kind="welcome"),
                name="accounts_emaildelivery_one_welcome_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} email to user {self.user_id}"


class WebhookDelivery(models.Model):
    """One event for the signup webhook, and where its delivery stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=64)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        # The status page counts deliveries by status, the latest first (webhooks.status).
        indexes = [
            models.Index(fields=["status", "-created_at"], name="accounts_webhook_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a webhook event: what came back and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["attempted_at"], name="accounts_webhook_attempted_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="accounts_webhookattempt_once_per_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"
