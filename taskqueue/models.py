from django.db import models
from django.db.models import Exists, OuterRef
from django_q.models import OrmQ


class ScheduledRetryQuerySet(models.QuerySet):
    def queued(self) -> "ScheduledRetryQuerySet":
        """Those whose queue row still exists. Only such a task waits for its next attempt: a
        row deleted by hand, purged, or acknowledged while this note could not be forgotten
        leaves a note that nothing will ever run, and must not keep its task from re-queueing."""
        return self.filter(Exists(OrmQ.objects.filter(pk=OuterRef("queue_row_id"))))

    def stale(self) -> "ScheduledRetryQuerySet":
        """Those whose queue row is gone: notes to delete."""
        return self.exclude(Exists(OrmQ.objects.filter(pk=OuterRef("queue_row_id"))))


class ScheduledRetry(models.Model):
    """A task that failed and waits for its next attempt, after a growing delay.

    Its queue row stays in the queue, hidden until `next_attempt_at`; django-q2's failure record
    (Failure) holds the error. A failure without a ScheduledRetry whose queue row exists has
    failed for good (see ScheduledRetryQuerySet.queued).
    """

    task_id = models.CharField(max_length=32, unique=True)
    queue_row_id = models.BigIntegerField()
    name = models.CharField(max_length=100)
    attempts_made = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField(db_index=True)

    objects = ScheduledRetryQuerySet.as_manager()

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


class FailedAttempt(models.Model):
    """One failed attempt of a task, kept after the task succeeds on a later attempt or is
    re-queued (django-q2's Failure is one row per task, updated in place and gone once it
    succeeds): what the status charts and the last hour's counts show as failures."""

    task_id = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=100, db_index=True)
    func = models.CharField(max_length=256)
    failed_at = models.DateTimeField(db_index=True)
    error = models.CharField(max_length=200, blank=True, help_text="The exception and its message.")

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.name} failed at {self.failed_at:%H:%M:%S}"
