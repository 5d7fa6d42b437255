"""The benchmark suite: the portal under gunicorn with a real qcluster and SMTP server.

    .venv/bin/python bench/run.py [--databases sqlite postgres] [--duration 10]

For each database it measures, on a fresh database:
  1. POST /api/signups/ (no password) at a fixed concurrency: requests/s, p50/p99 (wrk);
     and the same signup with no queue at all: a bare Django view (/bench/bare-signups/), the
     baseline, and the same insert through django-ninja (/bench/api/bare-signups/), which
     tells the queue's share from the API framework's
     (three runs of each by default, --rounds, alternated; the median run of each is reported);
  2. the same with every welcome email made slow (the SMTP server waits 2 s): slow/fast p50;
  3. signups with a password, one at a time, each alternated with one Argon2 hash timed here;
  4. at a steady 50 signups/s: from the 201 to the email received, and to the audit record;
  5. worker throughput: draining a backlog of 5,000 signups (email received + audit written);
  6. peak RSS of one web worker and of the whole qcluster (all its processes).
It prints a table and writes bench/results/latest.json. Nothing here is part of the tests.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import django
import psutil
import psycopg

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support import (  # noqa: E402
    GUNICORN,
    QCluster,
    SmtpServer,
    free_port,
    port_open,
    wait_for,
)

RESULTS_DIR = PROJECT_DIR / "bench" / "results"
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "correct-horse-battery-staple"

# The portal's defaults, but for one (README.md, "More"): what a fresh clone runs.
WEB_WORKERS = 4
CLUSTER_ENV = {"DB_CONN_HEALTH_CHECKS": "False"}
PEERS = ["celery", "fastapi"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk concurrency")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternated runs per server of the request path"
    )
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=50, help="signups/s of the latency run")
    parser.add_argument(
        "--only",
        choices=["request", "throughput", "latency", "password"],
        help="run one measurement (beside the peers), for tuning experiments",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=PEERS,
        default=PEERS,
        help="peers run beside the portal (the FastAPI app on SQLite only); none with --peers",
    )
    parser.add_argument(
        "--postgres-database",
        default="portal_bench",
        help="the PostgreSQL database to recreate (the Celery peer's gets _celery appended)",
    )
    parser.add_argument(
        "--web-server",
        choices=["gunicorn", "granian"],
        default="gunicorn",
        help="the portal's WSGI server (the Celery peer runs under gunicorn)",
    )
    parser.add_argument(
        "--ports",
        metavar="FIRST-LAST",
        help="take the servers' TCP ports from this range (default: any free port)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="extra environment"
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.ports:
        first, last = (int(port) for port in args.ports.split("-"))
        use_ports(range(first, last + 1))
    ensure_wrk()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()  # for the hashes timed in this process

    results: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {
            "web_server": args.web_server,
            "web_workers": WEB_WORKERS,
            **CLUSTER_ENV,
            **overrides,
        },
        "databases": {},
    }
    for database in args.databases:
        with (
            Portal(database, overrides, args.postgres_database, args.web_server) as portal,
            contextlib.ExitStack() as stack,
        ):
            peers: list[Service] = []
            if "celery" in args.peers:
                peers.append(stack.enter_context(CeleryPeer(database, args.postgres_database)))
            if "fastapi" in args.peers and database == "sqlite":
                peers.append(stack.enter_context(FastApiPeer()))
            part = None
            if args.only == "throughput":
                part = throughput(portal, peers, args.backlog)
            elif args.only == "request":
                part = request_path(portal, peers, args.duration, args.connections, args.rounds)
            elif args.only == "latency":
                part = latency(portal, peers, args.duration, args.rate)
            if part is not None:
                print(json.dumps(part))
                print_ratios(database, part)
                continue
            if args.only == "password":
                print(json.dumps(portal.password_signups()))
                continue
            results["databases"][database] = run_suite(portal, peers, args)
    if args.only:
        return
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def run_suite(portal: "Portal", peers: list["Service"], args: argparse.Namespace) -> dict[str, Any]:
    duration, connections = args.duration, args.connections
    result: dict[str, Any] = {}

    merge(result, request_path(portal, peers, duration, connections, args.rounds))

    print(f"[{portal.database}] 3. signups with a password, one at a time (no worker running)")
    result["password"] = portal.password_signups()
    portal.start_cluster()
    portal.wait_for_drain()

    print(f"[{portal.database}] 2. with workers on the same machine: fast, then slow email")
    result["fast_with_workers"] = portal.wrk("/api/signups/", duration, connections)
    portal.wait_for_drain()
    portal.smtp.handler.delay = 2.0
    result["slow"] = portal.wrk("/api/signups/", duration, connections)
    fast_p50 = result["fast_with_workers"]["p50_ms"]
    result["slow_fast_p50_ratio"] = result["slow"]["p50_ms"] / fast_p50
    portal.smtp.handler.delay = 0.0
    portal.stop_cluster()
    portal.clear_queue()

    merge(result, latency(portal, peers, duration, args.rate))
    merge(result, throughput(portal, peers, args.backlog))
    result["memory_mb"] = portal.peak_memory_mb()
    return result


def merge(result: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one measurement's figures to the suite's, the peers' beside the portal's."""
    for name, figures in part.pop("peers", {}).items():
        result.setdefault("peers", {}).setdefault(name, {}).update(figures)
    result.update(part)


def latency(
    portal: "Portal", peers: list["Service"], duration: int, rate: int = 50
) -> dict[str, Any]:
    """From each 201 to its email and audit record at `rate` signups/s, each service with its
    workers running; then what the portal's cluster and the Celery workers use idle."""
    result: dict[str, Any] = {"peers": {peer.name: {} for peer in peers}}
    for service in [portal, *peers]:
        print(f"[{portal.database}] 4. {service.name}: email and audit latency at {rate}/s")
        service.clear_queue()
        service.start_cluster()
        service.wait_until_ready()
        figures = {"rate": rate, **service.steady_load(rate=rate, seconds=duration)}
        if service.has_workers:
            figures["idle_cpu_percent"] = service.idle_cpu_percent(seconds=10)
        service.stop_cluster()
        print(f"  {json.dumps(figures)}")
        if service is portal:
            result["latency"] = figures
        else:
            result["peers"][service.name]["latency"] = figures
    return result


def throughput(portal: "Portal", peers: list["Service"], backlog: int) -> dict[str, Any]:
    result: dict[str, Any] = {"peers": {peer.name: {} for peer in peers}}
    for service in [portal, *peers]:
        if not service.has_workers:
            continue
        print(f"[{portal.database}] 5. {service.name}: draining a backlog of {backlog} signups")
        service.clear_queue()
        figures = service.drain_backlog(backlog)
        if service is portal:
            result["throughput"] = figures
        else:
            result["peers"][service.name]["throughput"] = figures
    return result


BASELINES = {"baseline": "/bench/bare-signups/", "api_baseline": "/bench/api/bare-signups/"}


def processes_named(prefix: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name"])
        if (process.info["name"] or "").startswith(prefix)
    ]


def request_path(
    portal: "Portal", peers: list["Service"], duration: int, connections: int, rounds: int = 3
) -> dict[str, Any]:
    print(f"[{portal.database}] 1. the request path alone (no worker running), and the baselines")
    targets: dict[str, tuple[Service, str]] = {
        "fast": (portal, "/api/signups/"),
        **{name: (portal, url) for name, url in BASELINES.items()},
        **{peer.name: (peer, "/api/signups/") for peer in peers},
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(rounds):  # alternated, so that drift on the shared cores hits all alike
        for name, (service, url) in targets.items():
            runs[name].append(service.wrk(url, duration, connections))
    medians = {name: median_run(runs[name]) for name in targets}
    cpu = {
        name: statistics.median(run["server_cpu_ms_per_request"] for run in runs[name])
        for name in targets
    }
    return {
        **{name: medians[name] for name in ("fast", *BASELINES)},
        "queue_cost": 1 - medians["fast"]["rps"] / medians["baseline"]["rps"],
        "queue_cost_vs_api_baseline": 1 - medians["fast"]["rps"] / medians["api_baseline"]["rps"],
        "server_cpu_ms": cpu,
        "peers": {
            peer.name: {
                "request": medians[peer.name],
                # Each round's portal run ÷ the peer's run next to it: drift hits both alike.
                "request_ratio_per_round": [
                    ours["rps"] / theirs["rps"]
                    for ours, theirs in zip(runs["fast"], runs[peer.name], strict=True)
                ],
            }
            for peer in peers
        },
    }


class Service:
    """A signup service under load: the portal or a peer, each with its own SMTP server."""

    name = "service"
    has_workers = True  # False: the tasks run in the web process (FastAPI's BackgroundTasks)
    database: str
    url: str
    smtp: SmtpServer
    web: "subprocess.Popen[bytes] | None"

    def start_cluster(self) -> None:
        """Start the workers."""

    def clear_queue(self) -> None:
        """Drop the queued tasks nobody waits for (what a request-path run left behind)."""

    def stop_cluster(self) -> None:
        """Stop the workers."""

    def worker_processes(self) -> list[psutil.Process]:
        return []

    def wait_until_ready(self) -> None:
        """Until the workers take tasks (start_cluster() may return before)."""

    def idle_cpu_percent(self, seconds: float) -> float:
        """CPU the running workers use with nothing to do, in % of one core, after the queue
        has settled for a second."""
        time.sleep(1)
        processes = self.worker_processes()

        def used() -> float:
            total = 0.0
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system
            return total

        before = used()
        time.sleep(seconds)
        return 100 * (used() - before) / seconds

    def wrk(
        self,
        path: str,
        duration: int,
        connections: int,
        report: bool = True,
    ) -> dict[str, Any]:
        env = {**os.environ, "BENCH_PREFIX": f"w{uuid.uuid4().hex[:6]}"}
        threads = min(2, connections)
        cpu_before = self.server_cpu_seconds()
        output = subprocess.run(
            [
                *("wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"),
                *("--latency", "-s", str(PROJECT_DIR / "bench" / "signup.lua"), self.url + path),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(re.search(r"RESULT (\{.*\})", output).group(1))
        cpu_after = self.server_cpu_seconds()
        cpu_ms = 1000 * sum(cpu - cpu_before.get(pid, 0.0) for pid, cpu in cpu_after.items())
        result["server_cpu_ms_per_request"] = cpu_ms / max(result["requests"], 1)
        if not report:
            return result
        if result["non_201"] or result["socket_errors"]:
            print(
                f"  warning: {result['non_201']} non-201 answers, {result['socket_errors']} errors"
            )
        print(
            f"  {self.name} {path}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms,"
            f" {result['server_cpu_ms_per_request']:.2f} ms of server CPU per request"
        )
        return result

    def server_processes(self) -> list[psutil.Process]:
        """The processes a signup's request costs CPU in: the web workers and, on PostgreSQL,
        the database's."""
        processes = self.web_processes()
        if self.database == "postgres":
            processes += processes_named("postgres")
        return processes

    def server_cpu_seconds(self) -> dict[int, float]:
        """CPU used so far by each server process (per process, as database backends come and
        go)."""
        seconds = {}
        for process in self.server_processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        return seconds

    def post_signup(self, name: str, password: str | None = None) -> bool:
        """POST one signup; True when it was answered 201."""
        fields = {"username": name, "email": f"{name}@example.com"}
        if password:
            fields["password"] = password
        request = urllib.request.Request(
            self.url + "/api/signups/",
            data=json.dumps(fields).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 201

    def steady_load(self, rate: int, seconds: int) -> dict[str, Any]:
        """Open-loop load: one signup every 1/rate s; times from each 201 to its outcomes."""
        prefix = f"s{uuid.uuid4().hex[:6]}"
        answered: dict[str, float] = {}
        answered_wall: dict[str, float] = {}
        start = time.monotonic() + 0.5

        def send(number: int) -> None:
            time.sleep(max(0.0, start + number / rate - time.monotonic()))
            name = f"{prefix}n{number}"
            if self.post_signup(name):
                answered[name], answered_wall[name] = time.monotonic(), time.time()

        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(send, range(rate * seconds)))
        wanted = {f"{name}@example.com": name for name in answered}
        wait_for(
            lambda: wanted.keys() <= {m.recipients[0] for m in self.smtp.handler.messages},
            timeout=30,
            message="every email of the steady run",
        )
        received = {m.recipients[0]: m.received_at for m in self.smtp.handler.messages}
        email_ms = [(received[to] - answered[name]) * 1000 for to, name in wanted.items()]
        audit_ms = [
            (recorded - answered_wall[name]) * 1000
            for name, recorded in self.audit_times(prefix).items()
            if name in answered_wall
        ]
        return {
            "signups": len(answered),
            "email_p50_ms": percentile(email_ms, 50),
            "email_p99_ms": percentile(email_ms, 99),
            "audit_p50_ms": percentile(audit_ms, 50),
            "audit_p99_ms": percentile(audit_ms, 99),
        }

    def audit_times(self, prefix: str) -> dict[str, float]:
        """When each signup's audit record was written (epoch seconds), by username."""
        return {}

    def web_processes(self) -> list[psutil.Process]:
        """The processes that answer requests: gunicorn's workers, or the one server."""
        root = psutil.Process(self.web.pid)
        return root.children() or [root]


class Portal(Service):
    """gunicorn + qcluster + SMTP server on a fresh database, with memory sampled throughout."""

    name = "portal"

    def __init__(
        self,
        database: str,
        overrides: dict[str, str],
        postgres_name: str,
        web_server: str = "gunicorn",
    ) -> None:
        self.database = database
        self.web_server = web_server
        self.postgres_name = postgres_name
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{database}-"))
        self.smtp = SmtpServer()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cluster: QCluster | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.peak = {"web_worker": 0, "qcluster": 0}
        self.sampling = threading.Event()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "False",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PORTAL_BASE_URL": self.url,
            "SECURE_SSL_REDIRECT": "False",
            "SECURE_COOKIES": "False",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.smtp.host,
            "EMAIL_PORT": str(self.smtp.port),
            "PORTAL_VAR_DIR": str(self.workdir),
            "LOG_LEVEL": "WARNING",
            **CLUSTER_ENV,
            **overrides,
        }
        if database == "postgres":
            self.env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{postgres_name}"
        else:
            self.env.pop("DATABASE_URL", None)

    def __enter__(self) -> "Portal":
        self.smtp.start()
        if self.database == "postgres":
            recreate_postgres_database(self.postgres_name)
        self.manage("migrate", "--verbosity", "0")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.web = subprocess.Popen(
            web_server_command(self.web_server, self.port),
            cwd=PROJECT_DIR,
            env=self.env,
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port), timeout=30, message=self.web_server)
        wait_for(
            lambda: len(psutil.Process(self.web.pid).children()) >= WEB_WORKERS,
            message=f"{self.web_server}'s workers",
        )
        self.wrk("/api/signups/", 2, 4, report=False)  # warm up every worker
        self.clear_queue()  # the warm-up's tasks, as the Celery peer flushes its broker
        threading.Thread(target=self.sample_memory, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sampling.set()
        self.stop_cluster()
        if self.web:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.web.pid, 9)
            self.web.wait()
        self.smtp.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def manage(self, *command: str, code: str | None = None) -> str:
        args = [sys.executable, "manage.py", *command, *(["-c", code] if code else [])]
        done = subprocess.run(
            args, cwd=PROJECT_DIR, env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def start_cluster(self) -> None:
        self.cluster = QCluster(PROJECT_DIR, self.env, self.workdir / "qcluster.log")
        self.cluster.start()

    def stop_cluster(self) -> None:
        if self.cluster:
            self.cluster.stop()
            self.cluster = None

    def worker_processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.cluster.process.pid)
        return [root, *root.children(recursive=True)]

    def wait_until_ready(self) -> None:
        """Until the pusher listens for wake-ups (taskqueue/wakeup.py)."""

        def listening() -> bool:
            if self.database == "postgres":
                return bool(
                    self.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query = 'LISTEN taskqueue_wakeup'"
                    )
                )
            # The socket is named after the pusher's pid: one left by a killed cluster is not it.
            pids = {str(process.pid) for process in self.worker_processes()}
            return any(sock.stem in pids for sock in (self.workdir / "queue-wakeup").glob("*.sock"))

        wait_for(listening, timeout=60, message="the pusher to listen")

    def count(self, table: str) -> int:
        return self.execute(f"SELECT count(*) FROM {table}")[0][0]

    def execute(self, statement: str) -> list[tuple[Any, ...]]:
        """One statement on the benchmark's database, committed; the rows it returns."""
        if self.database == "postgres":
            with psycopg.connect(self.env["DATABASE_URL"]) as conn:
                cursor = conn.execute(statement)
                return cursor.fetchall() if cursor.description else []
        with contextlib.closing(sqlite3.connect(self.workdir / "portal.sqlite3")) as conn:
            rows = conn.execute(statement).fetchall()
            conn.commit()
            return rows

    def clear_queue(self) -> None:
        """Drop queued tasks nobody waits for: the warm-up's, the slow-email run's backlog."""
        self.execute("DELETE FROM django_q_ormq")

    def wait_for_drain(self, timeout: float = 600) -> None:
        wait_for(lambda: self.count("django_q_ormq") == 0, timeout=timeout, interval=0.5)

    def password_signups(self, rounds: int = 40) -> dict[str, Any]:
        """Signups with a password, one at a time, each beside one hash timed in this process.

        Alternating the two keeps them under the same conditions: an Argon2 hash (8 lanes on
        these 2 cores) varies by a third between minutes, more than the overhead measured.
        """
        prefix = f"p{uuid.uuid4().hex[:6]}"
        hash_ms, signup_ms = [], []
        for number in range(rounds):
            hash_ms.append(time_one_hash())
            started = time.perf_counter()
            if not self.post_signup(f"{prefix}n{number}", PASSWORD):
                raise RuntimeError("a signup with a password was refused")
            signup_ms.append((time.perf_counter() - started) * 1000)
        result = {
            "signups": rounds,
            "signup_p50_ms": statistics.median(signup_ms),
            "hash_p50_ms": statistics.median(hash_ms),
        }
        result["overhead"] = (result["signup_p50_ms"] - result["hash_p50_ms"]) / result[
            "hash_p50_ms"
        ]
        print(
            f"  {result['signup_p50_ms']:.1f} ms per signup, {result['hash_p50_ms']:.1f} ms per"
            f" hash: {result['overhead']:.1%} overhead"
        )
        return result

    def audit_times(self, prefix: str) -> dict[str, float]:
        code = (
            "import json; from accounts.models import AuditRecord; print(json.dumps({"
            "r.user.username: r.recorded_at.timestamp() for r in AuditRecord.objects"
            f".filter(user__username__startswith='{prefix}').select_related('user')}}))"
        )
        return json.loads(self.manage("shell", code=code).strip().splitlines()[-1])

    def drain_backlog(self, size: int) -> dict[str, Any]:
        """Queue `size` signups with no worker running, then time one cluster draining them."""
        prefix = backlog_prefix()
        code = (
            "from accounts.signup import sign_up\n"
            f"for n in range({size}):\n"
            f"    sign_up(username=f'{prefix}{{n}}', email=f'{prefix}{{n}}@example.com',"
            " password=None, source='api')"
        )
        self.manage("shell", code=code)
        emails_before = len(self.smtp.handler.messages)
        audits_before = self.count("accounts_auditrecord") - size
        started = time.monotonic()
        self.start_cluster()
        wait_for(
            lambda: (
                len(self.smtp.handler.messages) - emails_before >= size
                and self.count("accounts_auditrecord") - audits_before >= size
            ),
            timeout=1800,
            interval=0.25,
            message="the backlog to drain",
        )
        seconds = time.monotonic() - started
        self.stop_cluster()
        print(f"  {size} signups in {seconds:.1f} s: {size / seconds:.0f}/s")
        return {"signups": size, "seconds": seconds, "per_second": size / seconds}

    def sample_memory(self) -> None:
        while not self.sampling.wait(0.25):
            with contextlib.suppress(psutil.Error):
                workers = psutil.Process(self.web.pid).children()
                web = max((p.memory_info().rss for p in workers), default=0)
                self.peak["web_worker"] = max(self.peak["web_worker"], web)
                if self.cluster and self.cluster.is_running():
                    root = psutil.Process(self.cluster.process.pid)
                    tree = [root, *root.children(recursive=True)]
                    total = sum(p.memory_info().rss for p in tree)
                    self.peak["qcluster"] = max(self.peak["qcluster"], total)

    def peak_memory_mb(self) -> dict[str, float]:
        return {name: round(value / 2**20, 1) for name, value in self.peak.items()}


class CeleryPeer(Service):
    """Django + Celery + Redis (bench/peers/celery_peer/): gunicorn as the portal's, a Celery
    worker with 4 prefork processes, Redis database 7 as the broker."""

    name = "celery"
    broker_url = "redis://127.0.0.1:6379/7"

    def __init__(self, database: str, postgres_name: str) -> None:
        self.database = database
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-celery-{database}-"))
        self.smtp = SmtpServer()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.postgres_name = f"{postgres_name}_celery"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.peers.celery_peer.settings",
            "PEER_VAR_DIR": str(self.workdir),
            "PEER_BROKER_URL": self.broker_url,
            "SIGNUPS_PER_CLIENT_HOURLY": str(10**9),  # as bench/settings.py's for the portal
            "EMAIL_HOST": self.smtp.host,
            "EMAIL_PORT": str(self.smtp.port),
        }
        self.env.pop("DATABASE_URL", None)
        if database == "postgres":
            self.env["PEER_DATABASE_URL"] = f"{POSTGRES_SERVER}/{self.postgres_name}"

    def __enter__(self) -> "CeleryPeer":
        self.smtp.start()
        self.clear_queue()
        if self.database == "postgres":
            recreate_postgres_database(self.postgres_name)
        self.python("-m", "django", "migrate", "--run-syncdb", "--verbosity", "0")
        command = [sys.executable, "-m", "gunicorn", "bench.peers.celery_peer.wsgi"]
        self.web = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{self.port}", "--workers", str(WEB_WORKERS)],
            cwd=PROJECT_DIR,
            env=self.env,
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port), timeout=30, message="the peer's gunicorn")
        wait_for(
            lambda: len(psutil.Process(self.web.pid).children()) == WEB_WORKERS,
            message="the peer's gunicorn workers",
        )
        self.wrk("/api/signups/", 2, 4, report=False)
        self.clear_queue()  # the warm-up's tasks
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_cluster()
        if self.web:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.web.pid, 9)
            self.web.wait()
        self.clear_queue()
        self.smtp.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def server_processes(self) -> list[psutil.Process]:
        """Redis too: the peer's broker and its clients' signup counts, as the portal's are in
        its database."""
        return [*super().server_processes(), *processes_named("redis-server")]

    def clear_queue(self) -> None:
        """Empty the peer's Redis database: the broker's queued tasks, and its clients' counts."""
        import redis

        redis.Redis.from_url(self.broker_url).flushdb()

    def python(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def start_cluster(self) -> None:
        log = self.workdir / "celery.log"
        log.write_text("")
        self.worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "bench.peers.celery_peer.celery_app"),
                *("worker", "--concurrency", "4", "--pool", "prefork", "--loglevel", "INFO"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("--logfile", str(log)),
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: " ready." in log.read_text(), timeout=60, message="the Celery worker")

    def stop_cluster(self) -> None:
        if self.worker is None:
            return
        self.worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.worker.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, 9)
        self.worker.wait()
        self.worker = None

    def worker_processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.worker.pid)
        return [root, *root.children(recursive=True)]

    def execute(self, statement: str) -> list[tuple[Any, ...]]:
        if self.database == "postgres":
            with psycopg.connect(self.env["PEER_DATABASE_URL"]) as conn:
                return conn.execute(statement).fetchall()
        with contextlib.closing(sqlite3.connect(self.workdir / "celery-peer.sqlite3")) as conn:
            return conn.execute(statement).fetchall()

    def audit_times(self, prefix: str) -> dict[str, float]:
        rows = self.execute(
            "SELECT a.username, r.recorded_at FROM celery_peer_auditrecord r"
            " JOIN celery_peer_account a ON a.id = r.account_id"
            f" WHERE a.username LIKE '{prefix}%'"
        )
        return {name: as_epoch(recorded) for name, recorded in rows}

    def drain_backlog(self, size: int) -> dict[str, Any]:
        """Queue `size` signups with no worker running, then time the worker draining them."""
        prefix = backlog_prefix()
        self.python(
            "-c",
            "import django; django.setup()\n"
            "from bench.peers.celery_peer.views import create_account\n"
            f"for n in range({size}):\n"
            f"    create_account(f'{prefix}{{n}}', f'{prefix}{{n}}@example.com', 'api')\n",
        )
        emails_before = len(self.smtp.handler.messages)
        audits_before = self.execute("SELECT count(*) FROM celery_peer_auditrecord")[0][0]
        started = time.monotonic()
        self.start_cluster()
        wait_for(
            lambda: (
                len(self.smtp.handler.messages) - emails_before >= size
                and self.execute("SELECT count(*) FROM celery_peer_auditrecord")[0][0]
                - audits_before
                >= size
            ),
            timeout=1800,
            interval=0.25,
            message="the peer's backlog to drain",
        )
        seconds = time.monotonic() - started
        self.stop_cluster()
        print(f"  {self.name}: {size} signups in {seconds:.1f} s: {size / seconds:.0f}/s")
        return {"signups": size, "seconds": seconds, "per_second": size / seconds}


class FastApiPeer(Service):
    """The lesson's FastAPI BackgroundTasks app (bench/peers/fastapi_app.py) under uvicorn, one
    process, on SQLite: the tasks run in that process after each response."""

    name = "fastapi"
    has_workers = False
    database = "sqlite"

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-fastapi-"))
        self.smtp = SmtpServer()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "PEER_VAR_DIR": str(self.workdir),
            "EMAIL_HOST": self.smtp.host,
            "EMAIL_PORT": str(self.smtp.port),
        }

    def __enter__(self) -> "FastApiPeer":
        self.smtp.start()
        self.web = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bench.peers.fastapi_app:app"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--log-level", "warning", "--no-access-log"),
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port), timeout=30, message="uvicorn")
        self.wrk("/api/signups/", 2, 4, report=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.web:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.web.pid, 9)
            self.web.wait()
        self.smtp.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def audit_times(self, prefix: str) -> dict[str, float]:
        with contextlib.closing(sqlite3.connect(self.workdir / "fastapi-peer.sqlite3")) as conn:
            rows = conn.execute(
                "SELECT a.username, r.recorded_at FROM audit_record r"
                " JOIN account a ON a.id = r.account_id WHERE a.username LIKE ?",
                [f"{prefix}%"],
            ).fetchall()
        return {name: as_epoch(recorded) for name, recorded in rows}


def backlog_prefix() -> str:
    """Names of a backlog's signups: a service may drain more than once in one run."""
    return f"b{uuid.uuid4().hex[:6]}"


def web_server_command(server: str, port: int) -> list[str]:
    """The portal's web server with WEB_WORKERS processes: gunicorn's sync workers (one request
    at a time, no keep-alive), or granian's (Rust HTTP, keep-alive, WSGI)."""
    if server == "granian":
        return [
            *(sys.executable, "-m", "granian", "--interface", "wsgi"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(WEB_WORKERS)),
            *("--log-level", "warning", "portal.wsgi:application"),
        ]
    return [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS)]


def as_epoch(moment: Any) -> float:
    """A timestamp as the databases hand it back (a datetime, or ISO text from SQLite)."""
    from datetime import UTC, datetime

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def use_ports(ports: range) -> None:
    """Take every server's port from `ports` (a range agreed with others on this machine)."""
    import tests.support

    available = iter(ports)

    def next_free_port() -> int:
        for port in available:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port left in {ports}")

    global free_port
    free_port = next_free_port
    tests.support.free_port = next_free_port


def time_one_hash() -> float:
    """Milliseconds for one Argon2 hash with Django's parameters (main() set Django up)."""
    from django.contrib.auth.hashers import make_password

    started = time.perf_counter()
    make_password(PASSWORD)
    return (time.perf_counter() - started) * 1000


def recreate_postgres_database(name: str) -> str:
    """An empty database on the local server; returns its URL."""
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{POSTGRES_SERVER}/{name}"


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median requests/s, with all its figures."""
    return sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]


def percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if ordered else 0.0


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("wrk is missing; installing Debian's package")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("signups/s, no password (16 conn.)", lambda r: f"{r['fast']['rps']:.0f}"),
        ("  p50 / p99 ms", lambda r: f"{r['fast']['p50_ms']:.1f} / {r['fast']['p99_ms']:.1f}"),
        ("bare insert baseline, req/s", lambda r: f"{r['baseline']['rps']:.0f}"),
        ("queueing cost vs baseline", lambda r: f"{r['queue_cost']:.1%}"),
        ("same insert through django-ninja, req/s", lambda r: f"{r['api_baseline']['rps']:.0f}"),
        ("  queueing cost vs that", lambda r: f"{r['queue_cost_vs_api_baseline']:.1%}"),
        (
            "  server CPU ms: signup / ninja / bare",
            lambda r: "/".join(
                f"{r['server_cpu_ms'][name]:.2f}" for name in ("fast", "api_baseline", "baseline")
            ),
        ),
        (
            "signups/s with workers on the same cores",
            lambda r: f"{r['fast_with_workers']['rps']:.0f}",
        ),
        ("slow/fast p50 ratio (<= 1.05)", lambda r: f"{r['slow_fast_p50_ratio']:.2f}"),
        (
            "with password: p50 ms per signup / per hash",
            lambda r: f"{r['password']['signup_p50_ms']:.1f} / {r['password']['hash_p50_ms']:.1f}",
        ),
        ("  overhead over the hash (<= 10%)", lambda r: f"{r['password']['overhead']:.1%}"),
        (
            "201 -> email p50 / p99 ms (< 300 / 1500)",
            lambda r: f"{r['latency']['email_p50_ms']:.0f} / {r['latency']['email_p99_ms']:.0f}",
        ),
        (
            "201 -> audit p50 / p99 ms",
            lambda r: f"{r['latency']['audit_p50_ms']:.0f} / {r['latency']['audit_p99_ms']:.0f}",
        ),
        ("worker throughput, signups/s (>= 200)", lambda r: f"{r['throughput']['per_second']:.0f}"),
        ("peak RSS web worker, MB", lambda r: f"{r['memory_mb']['web_worker']}"),
        ("peak RSS whole qcluster, MB", lambda r: f"{r['memory_mb']['qcluster']}"),
    ]
    databases = list(results["databases"])
    print(f"\n{'':46}" + "".join(f"{name:>16}" for name in databases))
    for label, cell in rows:
        print(f"{label:46}" + "".join(f"{cell(results['databases'][d]):>16}" for d in databases))
    for database, result in results["databases"].items():
        print_ratios(database, result)
    print(f"\nmachine: {results['machine']}\nresults: {RESULTS_DIR / 'latest.json'}")


def print_ratios(database: str, result: dict[str, Any]) -> None:
    """Each figure of the portal beside each peer's, as portal ÷ peer."""
    print(f"\n[{database}] portal beside its peers (portal ÷ peer):")
    for peer, figures in result.get("peers", {}).items():
        if "request" in figures and "fast" in result:
            ours, theirs = result["fast"]["rps"], figures["request"]["rps"]
            print(
                f"  signups/s, wrk -c16: portal {ours:.0f}, {peer} {theirs:.0f}:"
                f" {ours / theirs:.2f}x (higher is better)"
            )
            rounds = ", ".join(f"{ratio:.2f}" for ratio in figures["request_ratio_per_round"])
            print(f"    round by round: {rounds}")
            ours, theirs = result["server_cpu_ms"]["fast"], result["server_cpu_ms"][peer]
            print(
                f"  server CPU per signup, ms: portal {ours:.2f}, {peer} {theirs:.2f}:"
                f" {ours / theirs:.2f}x (lower is better)"
            )
        if "latency" in figures and "latency" in result:
            for pct in ("p50", "p99"):
                ours = result["latency"][f"email_{pct}_ms"]
                theirs = figures["latency"][f"email_{pct}_ms"]
                print(
                    f"  201 -> email handed over, {pct} ms at {figures['latency']['rate']}/s:"
                    f" portal {ours:.1f},"
                    f" {peer} {theirs:.1f}: {ours / max(theirs, 0.001):.2f}x (lower is better)"
                )
            if "idle_cpu_percent" in figures["latency"]:
                print(
                    "  workers idle, % of a core: portal"
                    f" {result['latency']['idle_cpu_percent']:.2f},"
                    f" {peer} {figures['latency']['idle_cpu_percent']:.2f}"
                )
        if "throughput" in figures and "throughput" in result:
            ours, theirs = result["throughput"]["per_second"], figures["throughput"]["per_second"]
            print(
                f"  draining a backlog, signups/s: portal {ours:.0f}, {peer} {theirs:.0f}:"
                f" {ours / theirs:.2f}x (higher is better)"
            )


if __name__ == "__main__":
    main()
