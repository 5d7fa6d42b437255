"""`manage.py worker`: a stop that holds whoever sends the signal, to whichever processes."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskqueue.management.commands.worker import group_alive
from tests.factories import many_signups
from tests.outcomes import duplicate_emails, wait_for_all_effects
from tests.support import PROJECT_DIR, QCluster, SmtpServer, wait_for

pytestmark = pytest.mark.integration

STOP_TIMEOUT = 8  # Q_STOP_TIMEOUT by default: short, for the cluster that outlasts it
IN_ORDER = 60  # Q_STOP_TIMEOUT where the stop must come in order even on a loaded machine
EXIT_DEADLINE = 30  # seconds past Q_STOP_TIMEOUT before a worker that has not exited is hung

# In a process of its own: a SIGTERM delivered at each traced line of the worker's wait in turn,
# inside the functions it calls too; each must end the wait (a hang is caught by the deadline).
SIGNAL_AT_EACH_LINE = """
import os, signal, sys
from taskqueue.management.commands import worker

class Running:
    def poll(self):
        return None

worker.POLL_SECONDS = 0
for target in range(1, 200):
    signals = worker.StopSignals()
    signals.install()
    lines = 0
    def deliver(frame, event, arg):
        global lines
        if event == "line":
            lines += 1
            if lines == target:
                os.kill(os.getpid(), signal.SIGTERM)
        return deliver
    sys.settrace(deliver)
    asked = worker.wait_for_stop(Running(), signals)
    sys.settrace(None)
    assert asked, target
print("stopped each time")
"""


class Worker:
    """`manage.py worker` in a process group of its own, as a supervisor starts it."""

    def __init__(self, env: dict[str, str], log_path: Path, stop_timeout: int) -> None:
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=PROJECT_DIR,
                env={**env, "Q_STOP_TIMEOUT": str(stop_timeout)},
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

    def exit_code(self) -> int:
        """Once it has exited; a worker still running well past its stop timeout is hung."""
        return self.process.wait(self.stop_timeout + EXIT_DEADLINE)


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(stop_timeout: int = STOP_TIMEOUT, **env: str) -> Worker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        started.append(Worker({**worker_env, **env}, log_path, stop_timeout))
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
    running = worker(stop_timeout=IN_ORDER)
    wait_for(lambda: smtp_server.handler.messages, timeout=30, message="a first email")
    os.killpg(running.process.pid, signal.SIGTERM)
    assert running.exit_code() == 0
    assert f"qcluster {running.cluster_pid} stopped" in running.log()  # not killed
    wait_for(lambda: gone(running.cluster_pid), timeout=5, message="the cluster to be gone")

    smtp_server.handler.delay = 0.0
    start_qcluster()
    wait_for_all_effects(smtp_server, len(users), timeout=60)
    assert duplicate_emails(smtp_server) <= 2  # the workers' tasks in flight, as after a crash


def test_a_stop_signal_ends_the_wait_wherever_it_lands() -> None:
    """A Python signal handler runs between any two bytecodes of the main thread. One that took
    a lock the interrupted code held (Event.set inside Event.wait) hung the worker for good."""
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT_EACH_LINE],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "stopped each time", done.stderr


def test_a_cluster_that_does_not_stop_in_time_is_killed(
    worker: Callable[..., Worker], smtp_server: SmtpServer
) -> None:
    smtp_server.handler.delay = 60  # a task that outlasts the stop timeout (and no task timeout)
    many_signups(1)
    running = worker(Q_TIMEOUT="120", Q_RETRY="130")
    wait_for(lambda: "processing welcome-email" in running.log(), message="the task to start")
    os.killpg(running.process.pid, signal.SIGTERM)
    running.exit_code()
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


def test_a_cluster_whose_main_process_is_killed_leaves_no_process_behind(
    worker: Callable[..., Worker], smtp_server: SmtpServer
) -> None:
    """Its sentinel and workers would go on taking tasks, and keep honcho from exiting."""
    running = worker()
    wait_for(lambda: "ready for work" in running.log(), timeout=30, message="the cluster to run")
    os.kill(running.cluster_pid, signal.SIGKILL)
    assert running.exit_code() == 128 + signal.SIGKILL
    assert f"qcluster {running.cluster_pid} ended by itself" in running.log()
    wait_for(
        lambda: not group_alive(running.cluster_pid), timeout=5, message="its processes to end"
    )
