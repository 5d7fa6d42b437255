"""Real servers and processes for the tests, and polling with a deadline."""

import asyncio
import contextlib
import email
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from django.db import connection, connections, transaction
from django.db.models import QuerySet

T = TypeVar("T")

PROJECT_DIR = Path(__file__).resolve().parent.parent


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30, interval: float = 0.1, message: str = ""
) -> T:
    """Poll until condition() is truthy and return it; fail after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `manage.py` with these arguments in a process of its own; text output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def needs_postgresql(reason: str) -> pytest.MarkDecorator:
    """Skip on SQLite, saying why; CI runs the suite on PostgreSQL too, where nothing skips."""
    return pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason=f"{reason}: runs when DATABASE_URL is PostgreSQL (as in CI)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMail:
    """Kept raw; parsed on first use, so that receiving stays cheap under load."""

    content: bytes
    received_at: float
    recipients: list[str]

    @functools.cached_property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=default_policy)


@dataclass
class SmtpHandler:
    """Keeps every message it accepts; `delay` makes the server slow on purpose."""

    messages: list[ReceivedMail] = field(default_factory=list)
    delay: float = 0.0
    on_accept: Callable[[], object] | None = None  # runs once a message is taken, before 250

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        received = ReceivedMail(envelope.content, time.monotonic(), list(envelope.rcpt_tos))
        self.messages.append(received)
        if self.on_accept is not None:
            self.on_accept()
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a loopback port, in a thread of the test process."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SmtpHandler()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [received.message for received in self.handler.messages]

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class QCluster:
    """A `manage.py qcluster` process in its own process group, logging to a file."""

    def __init__(self, project_dir: Path, env: dict[str, str], log_path: Path) -> None:
        self.project_dir = project_dir
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=self.project_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> bool:
        """SIGTERM and wait; SIGKILL the whole group if it does not stop in time. Returns
        whether it stopped by itself.

        django-q2 can deadlock in its SIGTERM handler (django-q2 issue #346), so a deadline
        is needed; tasks interrupted that way are delivered again after Q_RETRY seconds.
        """
        if not self.is_running():
            return True
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        stopped = True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stopped = False
        self.kill()
        return stopped

    def kill(self) -> None:
        """SIGKILL every process of the cluster: a crash, as an out-of-memory killer does it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of the database this test process uses, for the processes it starts."""
    engine = settings_dict["ENGINE"]
    if engine in ("django.db.backends.sqlite3", "sqlite_backend"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "")
        password = quote(settings_dict.get("PASSWORD") or "")
        credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
        host = settings_dict.get("HOST") or "localhost"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"
    raise NotImplementedError(f"no URL for {engine}")


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A real HTTP server on a loopback port that records POSTs and answers queued statuses."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.statuses: list[int] = []  # answers for the next requests; then 200
        self.delay = 0.0  # seconds before each answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(ReceivedRequest(self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/signup"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


GUNICORN = [sys.executable, "-m", "gunicorn", "portal.wsgi"]


class WebServer:
    """The portal under gunicorn, as in production, in its own process group on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*GUNICORN, "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
                cwd=PROJECT_DIR,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(lambda: port_open(self.port), timeout=30, message="the web server to listen")

    def stop(self) -> None:
        """The whole group: gunicorn's workers too, which would otherwise hold the database."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def query_plan(queryset: QuerySet[Any]) -> str:
    """The database's plan for `queryset`, with table scans ruled out where they can be.

    On a test table of a few rows PostgreSQL rightly prefers a scan; with scans disabled, the
    plan still names an index only if one can serve the query.
    """
    with transaction.atomic(using=queryset.db):
        if connections[queryset.db].vendor == "postgresql":
            connections[queryset.db].cursor().execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RawHttpServer:
    """A loopback server that answers every connection with `answer(connection)`: for receivers
    that misbehave on purpose (dripping bytes, answering without end)."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/signup"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection:
            connection.recv(65536)
            self.answer(connection)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.listener.close()
