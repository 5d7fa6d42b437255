from django.db import models
from django.db.models.functions import Lower


class Account(models.Model):
    """Username and email unique in any letter case, as the portal's accounts."""

    username = models.CharField(max_length=150)
    email = models.EmailField(max_length=254)
    date_joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="peer_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="peer_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username


class AuditRecord(models.Model):
    """One per signup, by constraint, so that a task delivered twice writes it once."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE)
    source = models.CharField(max_length=20)
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"signup of {self.account_id}"
