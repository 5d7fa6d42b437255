"""`manage.py worker`: a stop that holds whoever sends the signal, to whichever processes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.factories import many_signups
from tests.outcomes import duplicate_emails, wait_for_all_effects
from tests.support import PROJECT_DIR, QCluster, SmtpServer, wait_for

pytestmark = pytest.mark.integration

STOP_TIMEOUT = 8


class Worker:
    """`manage.py worker` in a process group of its own, as a supervisor starts it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=PROJECT_DIR,
                env={**env, "Q_STOP_TIMEOUT": str(STOP_TIMEOUT)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.cluster_pid = int(
            wait_for(lambda: self.logged("qcluster started as pid "), message="the cluster")
        )

    def logged(self, prefix: str) -> str | None:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line.removeprefix(prefix)
        return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        started.append(Worker({**worker_env, **env}, log_path))
        return started[-1]

    yield start
    for each in started:
        for pgid in (each.process.pid, each.cluster_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        each.process.wait()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_sigterm_to_the_whole_process_group_stops_the_cluster_in_order(
    worker: Callable[..., Worker],
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
) -> None:
    """What systemd's default KillMode, docker stop and `kill -TERM -<pgid>` do."""
    smtp_server.handler.delay = 1.0
    users = many_signups(6)
    running = worker()
    wait_for(lambda: smtp_server.handler.messages, timeout=30, message="a first email")
    stop_asked = time.monotonic()
    os.killpg(running.process.pid, signal.SIGTERM)
    assert running.process.wait(STOP_TIMEOUT + 10) == 0
    assert time.monotonic() - stop_asked < STOP_TIMEOUT + 5
    assert "stopping qcluster" in running.log()
    wait_for(lambda: gone(running.cluster_pid), timeout=5, message="the cluster to be gone")

    smtp_server.handler.delay = 0.0
    start_qcluster()
    wait_for_all_effects(smtp_server, len(users), timeout=60)
    assert duplicate_emails(smtp_server) <= 2  # the workers' tasks in flight, as after a crash


def test_a_cluster_that_does_not_stop_in_time_is_killed(
    worker: Callable[..., Worker], smtp_server: SmtpServer
) -> None:
    smtp_server.handler.delay = 60  # a task that outlasts the stop timeout (and no task timeout)
    many_signups(1)
    running = worker(Q_TIMEOUT="120", Q_RETRY="130")
    wait_for(lambda: "processing welcome-email" in running.log(), message="the task to start")
    os.killpg(running.process.pid, signal.SIGTERM)
    running.process.wait(STOP_TIMEOUT + 10)
    assert f"still running after {STOP_TIMEOUT} s: killed" in running.log()
    wait_for(lambda: gone(running.cluster_pid), timeout=5, message="the cluster to be gone")


def test_the_cluster_stops_when_the_worker_command_is_killed(
    worker: Callable[..., Worker], smtp_server: SmtpServer
) -> None:
    running = worker()
    wait_for(lambda: "ready for work" in running.log(), timeout=30, message="the cluster to run")
    running.process.kill()
    running.process.wait()
    wait_for(lambda: gone(running.cluster_pid), timeout=30, message="the orphaned cluster to stop")
