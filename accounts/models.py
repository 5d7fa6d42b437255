from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """The portal's account: username and email are each unique regardless of letter case."""

    email = models.EmailField("email address", max_length=254)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(condition=~Q(email=""), name="accounts_user_email_not_empty"),
        ]


class AuditRecord(models.Model):
    """Something that happened to an account, written by a worker after the response."""

    class Action(models.TextChoices):
        SIGNUP = "signup", "Signed up"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="audit_records")
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
        return (
            f"{self.get_action_display()}: {self.user_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
        )


class EmailDelivery(models.Model):
    """An email handed to the mail server, so that a redelivered task does not send it again."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_deliveries")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message_id = models.CharField(max_length=255, unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)

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
