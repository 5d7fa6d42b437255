from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_q.models import Failure

from taskqueue.requeue import requeue_failures


class Command(BaseCommand):
    help = "Put failed tasks back on the queue: the named ones, or every one with --all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="task names, e.g. welcome-email-42")
        parser.add_argument(
            "--all", action="store_true", dest="every", help="re-queue every failed task"
        )

    def handle(self, *args: Any, names: list[str], every: bool, **options: Any) -> None:
        if bool(names) == every:
            raise CommandError("Name the failed tasks to re-queue, or pass --all.")
        failures = Failure.objects.all() if every else Failure.objects.filter(name__in=names)
        missing = set(names) - set(failures.values_list("name", flat=True))
        if missing:
            raise CommandError(f"No failed task named: {', '.join(sorted(missing))}")
        count = requeue_failures(failures)
        self.stdout.write(f"Re-queued {count} failed task(s).")
