"""Where a signup's extra cost over the baseline goes: one process, no web server, no load.

    .venv/bin/python bench/request_cost.py [--database sqlite|postgres] [--rounds 9]

Runs, alternated round by round, the baseline's account insert (bench.urls.create_account)
and sign_up() with its queueing replaced by: nothing, signing the two packages only, inserting
two packages signed beforehand only, and the real thing. Prints the median CPU per signup of
this process and, on PostgreSQL, of its database backend, and the median time each signup
spends inside its transaction (on SQLite: holding the database's write lock). On a fresh database
under var/bench-request-cost/ (SQLite) or the database `portal_request_cost` (PostgreSQL).
"""

import argparse
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.run import recreate_postgres_database  # noqa: E402

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--signups", type=int, default=1000, help="per variant and round")
    args = parser.parse_args()
    prepare_database(args.database)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    measure(args.rounds, args.signups)


def prepare_database(database: str) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="bench.settings", DEBUG="False", LOG_LEVEL="WARNING")
    os.environ.setdefault("SECRET_KEY", uuid.uuid4().hex * 2)
    os.environ.setdefault("PORTAL_BASE_URL", "http://127.0.0.1:8000")
    if database == "postgres":
        os.environ["DATABASE_URL"] = recreate_postgres_database("portal_request_cost")
    else:
        os.environ.pop("DATABASE_URL", None)
        var_dir = PROJECT_DIR / "var" / "bench-request-cost"
        shutil.rmtree(var_dir, ignore_errors=True)
        var_dir.mkdir(parents=True)
        os.environ["PORTAL_VAR_DIR"] = str(var_dir)


def measure(rounds: int, signups: int) -> None:
    from django.db import connection

    from accounts import signup as services
    from accounts.tasks import record_signup
    from bench.urls import create_account
    from taskqueue import enqueue as queueing

    presigned = [queueing.signed_package(queueing.TaskCall(record_signup, (0,), "x", None))] * 2

    def sign_only(tasks: Sequence[queueing.TaskCall]) -> None:
        for task in tasks:
            queueing.signed_package(task)

    def insert_only(tasks: Sequence[queueing.TaskCall]) -> None:
        queueing.process_broker().enqueue_many(presigned)

    queueing_variants: dict[str, Callable[[Sequence[queueing.TaskCall]], None] | None] = {
        "baseline (create_account)": None,
        "sign_up, no queueing": lambda tasks: None,
        "sign_up, signing only": sign_only,
        "sign_up, insert only": insert_only,
        "sign_up": queueing.enqueue_together,
    }

    def one_signup(variant: Callable[[Sequence[queueing.TaskCall]], None] | None) -> None:
        name = f"u{uuid.uuid4().hex[:12]}"
        if variant is None:
            create_account(name, f"{name}@example.com", None)
            return
        services.enqueue_together = variant
        services.sign_up(username=name, email=f"{name}@example.com", password=None, source="api")

    backend = database_backend(connection)
    transaction_seconds = time_transactions(connection)
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in queueing_variants}
    in_transaction: dict[str, list[float]] = {name: [] for name in queueing_variants}
    for _ in range(rounds):
        for name, variant in queueing_variants.items():
            backend_before = process_cpu(backend)
            transaction_seconds.clear()
            before = time.process_time()
            for _ in range(signups):
                one_signup(variant)
            cpu[name].append((time.process_time() - before, process_cpu(backend) - backend_before))
            in_transaction[name].extend(transaction_seconds)
    services.enqueue_together = queueing.enqueue_together
    print(f"{connection.vendor}: median of {rounds} rounds of {signups} signups, CPU ms per signup")
    for name, runs in cpu.items():
        own = statistics.median(run[0] for run in runs) * 1000 / signups
        line = f"  {name:28} {own:.3f}"
        if backend:
            database = statistics.median(run[1] for run in runs) * 1000 / signups
            line += f"  + database backend {database:.3f}"
        line += f"; in its transaction {statistics.median(in_transaction[name]) * 1e6:.0f} µs"
        print(line)


def time_transactions(connection: "BaseDatabaseWrapper") -> list[float]:
    """Collect how long each transaction lasts, from leaving autocommit (atomic() entered, the
    BEGIN) to returning to it (the COMMIT done)."""
    durations: list[float] = []
    started = 0.0
    set_autocommit = connection.set_autocommit

    def timed_set_autocommit(autocommit: bool, **kwargs: bool) -> None:
        nonlocal started
        if not autocommit:
            started = time.perf_counter()
        set_autocommit(autocommit, **kwargs)
        if autocommit:
            durations.append(time.perf_counter() - started)

    connection.set_autocommit = timed_set_autocommit
    return durations


def database_backend(connection: "BaseDatabaseWrapper") -> psutil.Process | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return psutil.Process(cursor.fetchone()[0])


def process_cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


if __name__ == "__main__":
    main()
