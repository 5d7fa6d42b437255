from django.db import models


class Counter(models.Model):
    """How often one key (an action and who did it) was seen in its current window."""

    key = models.CharField(max_length=255, unique=True)
    window_start = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True, help_text="When the window ends.")
    count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.count} since {self.window_start:%H:%M:%S}"
