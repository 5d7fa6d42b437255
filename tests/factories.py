import uuid
from datetime import datetime

from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ
from django_q.signing import SignedPackage

from accounts.models import User
from accounts.signup import sign_up
from taskqueue.models import FailedAttempt, ScheduledRetry

STRONG_PASSWORD = "correct-horse-battery-staple"


def signup(username: str = "alice", email: str | None = None, **overrides: object) -> User:
    fields: dict = {
        "username": username,
        "email": f"{username}@example.com" if email is None else email,
        "password": STRONG_PASSWORD,
        "source": "api",
        "ip_address": "127.0.0.1",
    }
    fields.update(overrides)
    return sign_up(**fields)


def many_signups(count: int, prefix: str = "user") -> list[User]:
    """Accounts without passwords: no hashing, so hundreds are created in seconds."""
    return [signup(f"{prefix}{number}", password=None) for number in range(count)]


def failed_welcome_email(user_id: int, name: str | None = None, attempts: int = 5) -> Failure:
    """A welcome task that exhausted its attempts, as the monitor records it: its failure, and
    each attempt that failed."""
    now = timezone.now()
    task_id = uuid.uuid4().hex
    for _attempt in range(attempts):
        FailedAttempt.objects.create(
            task_id=task_id,
            name=name or f"welcome-email-{user_id}",
            func="accounts.tasks.send_welcome_email",
            failed_at=now,
            error="ConnectionRefusedError: [Errno 111] Connection refused",
        )
    return Failure.objects.create(
        id=task_id,
        name=name or f"welcome-email-{user_id}",
        func="accounts.tasks.send_welcome_email",
        args=(user_id,),
        kwargs={},
        started=now,
        stopped=now,
        result="ConnectionRefusedError: [Errno 111] Connection refused",
        success=False,
        attempt_count=attempts,
    )


def waiting_to_retry(failure: Failure, attempts_made: int, at: datetime) -> ScheduledRetry:
    """What a worker leaves of a failed attempt with attempts to come: the task's queue row,
    hidden until `at`, and the note of its next attempt."""
    package = {"id": failure.id, "name": failure.name, "func": failure.func, "args": failure.args}
    queued = OrmQ.objects.create(
        key=Conf.CLUSTER_NAME, payload=SignedPackage.dumps(package), lock=at
    )
    return ScheduledRetry.objects.create(
        task_id=failure.id,
        queue_row_id=queued.pk,
        name=failure.name,
        attempts_made=attempts_made,
        next_attempt_at=at,
    )
