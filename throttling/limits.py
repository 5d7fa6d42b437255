"""Fixed-window rate limits, counted by one atomic statement per hit."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from throttling.models import Counter

logger = logging.getLogger(__name__)

TABLE = Counter._meta.db_table


class RateLimited(Exception):
    """Raised when a limit is exceeded; `retry_after` is in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    period: timedelta

    def hit(self, *parts: object, message: str) -> None:
        """Count one more for `parts`; raise RateLimited past `count` in the current window."""
        seen, window_start = count_hit(key(self.name, parts), self.period)
        if seen > self.count:
            retry_after = window_start + self.period - timezone.now()
            logger.info("rate limit %s reached (%s in %s)", self.name, seen, self.period)
            raise RateLimited(message, int(retry_after.total_seconds()) + 1)

    def reached(self, *parts: object) -> bool:
        """Whether the next hit would be refused, without counting one."""
        row = Counter.objects.filter(key=key(self.name, parts)).first()
        if row is None or row.window_start <= timezone.now() - self.period:
            return False
        return row.count >= self.count


def key(name: str, parts: tuple[object, ...]) -> str:
    """Addresses and names are hashed: the table keeps no personal data in the clear."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"{name}:{digest}"


def count_hit(counter_key: str, period: timedelta) -> tuple[int, datetime]:
    """One INSERT … ON CONFLICT DO UPDATE: concurrent hits each get their own count."""
    now = timezone.now()
    expired = now - period
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (key, window_start, count) VALUES (%s, %s, 1)"  # noqa: S608
            " ON CONFLICT (key) DO UPDATE SET"
            f" count = CASE WHEN {TABLE}.window_start > %s THEN {TABLE}.count + 1 ELSE 1 END,"
            f" window_start = CASE WHEN {TABLE}.window_start > %s"
            f" THEN {TABLE}.window_start ELSE excluded.window_start END"
            " RETURNING count, window_start",
            [counter_key, adapt(now), adapt(expired), adapt(expired)],
        )
        count, window_start = cursor.fetchone()
    if isinstance(window_start, str):  # SQLite returns the stored text
        window_start = datetime.fromisoformat(window_start)
    if timezone.is_naive(window_start):
        window_start = timezone.make_aware(window_start, UTC)
    return count, window_start


def prune_counters(older_than: timedelta = timedelta(days=1)) -> int:
    deleted, _ = Counter.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
