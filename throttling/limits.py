"""Fixed-window rate limits, counted by one atomic statement per hit."""

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import ngettext

from throttling.models import Counter

logger = logging.getLogger(__name__)

TABLE = Counter._meta.db_table


class RateLimited(Exception):
    """Raised when a limit is exceeded; `retry_after` is in whole seconds. Its text ends with
    when to try again, in minutes, for the people who read it (Retry-After is for programs)."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        minutes = math.ceil(self.retry_after / 60)
        wait = ngettext(
            "Try again in %(num)d minute.", "Try again in %(num)d minutes.", minutes
        ) % {"num": minutes}
        super().__init__(f"{message} {wait}")


@dataclass(frozen=True)
class Hit:
    """One hit counted by Limit.take: its count in the window, and the means to give it back."""

    counter_key: str
    count: int
    window_start: datetime

    def give_back(self) -> None:
        """Uncount it, in the window it was counted in only: a later window is not lowered."""
        Counter.objects.filter(
            key=self.counter_key, window_start=self.window_start, count__gt=0
        ).update(count=F("count") - 1)


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per `period` for each key; the window starts at a key's first hit."""

    name: str
    count: int
    period: timedelta

    def hit(self, *parts: object, message: str) -> None:
        """Count one more for `parts`; raise RateLimited past `count` in the current window."""
        seen, window_start = count_hit(key(self.name, parts), self.period)
        if seen > self.count:
            logger.info("rate limit %s reached (%s in %s)", self.name, seen, self.period)
            raise RateLimited(message, self.seconds_left(window_start))

    def seconds_left(self, window_start: datetime) -> int:
        """Until the window that started then ends, in whole seconds, rounded up."""
        return int((window_start + self.period - timezone.now()).total_seconds()) + 1

    def add(self, *parts: object) -> int:
        """Count one more for `parts`, refusing nothing; returns the count in the window."""
        seen, _ = count_hit(key(self.name, parts), self.period)
        return seen

    def take(self, *parts: object) -> Hit:
        """Count one more for `parts` before the action it limits, refusing nothing: of hits at
        the same moment each gets its own count, so the first `count` of them are told apart
        from the rest; one whose action turns out not to count is given back."""
        counter_key = key(self.name, parts)
        seen, window_start = count_hit(counter_key, self.period)
        return Hit(counter_key, seen, window_start)

    def retry_after(self, *parts: object) -> int | None:
        """Seconds until the window of a key that reached `count` ends; None if it has not."""
        ends = (
            Counter.objects.filter(
                key=key(self.name, parts), expires_at__gt=timezone.now(), count__gte=self.count
            )
            .values_list("expires_at", flat=True)
            .first()
        )
        return None if ends is None else int((ends - timezone.now()).total_seconds()) + 1

    def reset(self, *parts: object) -> None:
        Counter.objects.filter(key=key(self.name, parts)).delete()

    def first(self, *parts: object) -> bool:
        """Count one more for `parts`; True only for the first in its window. Two at once get
        one True between them."""
        seen, _ = count_hit(key(self.name, parts), self.period)
        return seen == 1

    def reached(self, *parts: object) -> bool:
        """Whether `count` hits were made in the current window, without counting one."""
        return Counter.objects.filter(
            key=key(self.name, parts), expires_at__gt=timezone.now(), count__gte=self.count
        ).exists()


def key(name: str, parts: tuple[object, ...]) -> str:
    """Addresses and names are hashed: the table keeps no personal data in the clear."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"{name}:{digest}"


def count_hit(counter_key: str, period: timedelta) -> tuple[int, datetime]:
    """One INSERT … ON CONFLICT DO UPDATE: concurrent hits each get their own count."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (key, window_start, expires_at, count)"  # noqa: S608
            " VALUES (%s, %s, %s, 1) ON CONFLICT (key) DO UPDATE SET"
            f" count = CASE WHEN {TABLE}.expires_at > %s THEN {TABLE}.count + 1 ELSE 1 END,"
            f" window_start = CASE WHEN {TABLE}.expires_at > %s"
            f" THEN {TABLE}.window_start ELSE excluded.window_start END,"
            f" expires_at = CASE WHEN {TABLE}.expires_at > %s"
            f" THEN {TABLE}.expires_at ELSE excluded.expires_at END"
            " RETURNING count, window_start",
            [counter_key, adapt(now), adapt(now + period), adapt(now), adapt(now), adapt(now)],
        )
        count, window_start = cursor.fetchone()
    if isinstance(window_start, str):  # SQLite returns the stored text
        window_start = datetime.fromisoformat(window_start)
    if timezone.is_naive(window_start):
        window_start = timezone.make_aware(window_start, UTC)
    return count, window_start


def prune_counters() -> str:
    """Scheduled hourly: counters whose window has ended count nothing any more."""
    deleted, _ = Counter.objects.filter(expires_at__lte=timezone.now()).delete()
    return f"pruned {deleted}"
