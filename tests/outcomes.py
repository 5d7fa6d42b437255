"""Driving the portal over HTTP and waiting for what the workers do."""

import json
import queue
import re
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from multiprocessing import Value
from typing import Any

from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ
from django_q.monitor import monitor
from django_q.signing import SignedPackage
from django_q.worker import worker

from accounts.models import AuditRecord, EmailDelivery
from tests.support import SmtpServer, wait_for


def post_json(client: Client, url: str, body: object, **headers: str) -> HttpResponse:
    """POST `body` as JSON through Django's test client; `headers` as WSGI environ keys."""
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def post_signup(base_url: str, username: str, **fields: str) -> tuple[int, dict]:
    """POST /api/signups/ and return the status and JSON body, whatever the status."""
    body = {"username": username, "email": f"{username}@example.com", **fields}
    request = urllib.request.Request(
        f"{base_url}/api/signups/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_for_welcome_email(smtp_server: SmtpServer, username: str, timeout: float = 30) -> None:
    wait_for(
        lambda: smtp_server.messages_to(f"{username}@example.com"),
        timeout=timeout,
        message=f"welcome email to {username}",
    )


def wait_for_audit_record(username: str, timeout: float = 30) -> AuditRecord:
    return wait_for(
        lambda: AuditRecord.objects.filter(user__username=username).first(),
        timeout=timeout,
        message=f"audit record of {username}",
    )


def wait_for_all_effects(smtp_server: SmtpServer, count: int, timeout: float) -> None:
    """Every one of `count` accounts has its email received and its audit record written."""
    wait_for(
        lambda: (
            len(recipients(smtp_server)) >= count
            and EmailDelivery.objects.count() >= count
            and AuditRecord.objects.count() >= count
        ),
        timeout=timeout,
        interval=0.5,
        message=f"{count} welcome emails and audit records",
    )


def recipients(smtp_server: SmtpServer) -> Counter[str]:
    """How many welcome emails each address received."""
    return Counter(message["To"] for message in smtp_server.messages)


def duplicate_emails(smtp_server: SmtpServer) -> int:
    return sum(received - 1 for received in recipients(smtp_server).values())


def deliver(broker: Any) -> dict[str, Any]:
    """One round of a cluster, with django-q2's own worker and monitor run in this process:
    what its pusher does with a claimed row (unsign, note the ack id), then run the task, then
    save its result and acknowledge it. Returns the result the monitor received."""
    [(ack_id, payload)] = broker.dequeue()
    package = SignedPackage.loads(payload)
    package["ack_id"] = ack_id
    tasks: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    for item in (package, "STOP"):
        tasks.put(item)
    worker(tasks, results, Value("f", -1), timeout=10)
    result = results.get_nowait()
    results.put(result)
    results.put("STOP")
    monitor(results, broker)
    return result


def make_claimable() -> None:
    """What the wait before a task's next attempt does, without waiting for it."""
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))


def errors_of(response: HttpResponse, field_id: str) -> list[str]:
    """The errors shown under one field (templates/forms.html)."""
    listed = re.search(
        rf'<ul class="errors" id="{field_id}_errors">(.*?)</ul>', response.content.decode(), re.S
    )
    return re.findall(r"<li>(.*?)</li>", listed.group(1)) if listed else []
