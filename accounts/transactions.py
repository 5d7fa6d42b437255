from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def savepoint_if_in_transaction() -> AbstractContextManager[object]:
    """An insert that may fail on a unique constraint must not break a caller's transaction.
    A worker runs in autocommit, where the insert needs no transaction of its own (on
    PostgreSQL that would be a BEGIN and a COMMIT: two more round trips for every task)."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
