from django.db import models


class ScheduledRetry(models.Model):
    """A task that failed and waits for its next attempt, after a growing delay.

    Its queue row stays in the queue, hidden until `next_attempt_at`; django-q2's failure record
    (Failure) holds the error. A failure without a ScheduledRetry has failed for good.
    """

    task_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    attempts_made = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["next_attempt_at"]

    def __str__(self) -> str:
        return f"{self.name}: attempt {self.attempts_made + 1} at {self.next_attempt_at}"


class QueueSample(models.Model):
    """The queue's depth and its oldest task's age, sampled each minute for the status charts
    (nothing else records them over time)."""

    taken_at = models.DateTimeField(db_index=True)
    depth = models.PositiveIntegerField()
    oldest_age_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.depth} queued at {self.taken_at:%H:%M}"
