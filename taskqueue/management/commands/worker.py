"""`manage.py worker`: a qcluster that stops in order however its supervisor signals it."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_SECONDS = 0.2


class StopSignals:
    """The stop signals received, noted by a handler that takes no lock. A Python handler runs
    in the main thread between two of its bytecodes, possibly inside threading.Event.wait while
    that holds its condition's lock: an Event.set() there waits forever for a lock its own
    thread holds, and the worker never stops."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.note)

    def note(self, signum: int, frame: object) -> None:
        self.received.append(signum)


def wait_for_stop(cluster: subprocess.Popen, signals: StopSignals) -> bool:
    """Until a stop signal (True) or the cluster's end (False). A plain sleep, which a signal
    cuts short without any lock held; list.append in the handler is atomic."""
    while cluster.poll() is None:
        if signals.received:
            return True
        time.sleep(POLL_SECONDS)
    return False


def stop_with_parent() -> None:
    """In the cluster's process: a SIGTERM when this command dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Run `manage.py qcluster` shielded from signals sent to this process group, and stop it"
        " in order on SIGTERM or SIGINT: one SIGTERM to the cluster, then SIGKILL after"
        " Q_STOP_TIMEOUT seconds."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """django-q2 stops in order on one SIGTERM to its main process; a SIGTERM to the whole
        group (what systemd, docker and `kill -TERM -<pgid>` send) reaches its workers too, kills
        them mid-task and can leave the main process hung. So the cluster runs in a session of
        its own, where only this command signals it."""
        signals = StopSignals()
        signals.install()
        cluster = subprocess.Popen(  # noqa: S603 - this interpreter, this project's manage.py
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
            start_new_session=True,
            preexec_fn=stop_with_parent,
        )
        self.stdout.write(f"qcluster started as pid {cluster.pid}", ending="\n")
        self.stdout.flush()
        if wait_for_stop(cluster, signals):
            self.stop(cluster)
            sys.exit(0)
        # Ended without being asked to: a failure, for a supervisor to restart it.
        code = cluster.returncode
        self.stderr.write(f"qcluster {cluster.pid} ended by itself (exit status {code})")
        self.stop_leftovers(cluster.pid)
        sys.exit(code if code > 0 else 128 - code if code < 0 else 1)

    def stop_leftovers(self, pgid: int) -> None:
        """A main process killed leaves its sentinel and workers running, taking tasks under
        no one's watch and holding the supervisor's output pipe (honcho then never exits).
        SIGTERM ends them (django-q2's workers die of it at once: a task cut short is delivered
        again, as after any crash); SIGKILL any still there after Q_STOP_TIMEOUT. Where this
        command is the container's init, it reaps them, or they would linger as zombies."""
        signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + settings.Q_STOP_TIMEOUT
        while group_alive(pgid) and time.monotonic() < deadline:
            reap_children()
            time.sleep(POLL_SECONDS)
        if group_alive(pgid):
            self.stderr.write(f"processes left by qcluster {pgid} killed")
            signal_group(pgid, signal.SIGKILL)

    def stop(self, cluster: subprocess.Popen) -> None:
        """Running tasks finish within Q_STOP_TIMEOUT; whatever is cut short is delivered again
        after Q_RETRY, as after any crash."""
        self.stdout.write(f"stopping qcluster {cluster.pid}", ending="\n")
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(settings.Q_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stderr.write(
                f"qcluster {cluster.pid} still running after {settings.Q_STOP_TIMEOUT} s: killed"
            )
            signal_group(cluster.pid, signal.SIGKILL)
            cluster.wait()
            return
        signal_group(cluster.pid, signal.SIGKILL)  # any worker its main process left behind
        self.stdout.write(f"qcluster {cluster.pid} stopped", ending="\n")


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
