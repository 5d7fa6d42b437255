"""Driving the portal over HTTP and waiting for what the workers do."""

import json
import urllib.error
import urllib.request
from collections import Counter

from django.http import HttpResponse
from django.test import Client

from accounts.models import AuditRecord, EmailDelivery
from tests.support import SmtpServer, wait_for


def post_json(client: Client, url: str, body: object) -> HttpResponse:
    """POST `body` as JSON through Django's test client."""
    return client.post(url, json.dumps(body), content_type="application/json")


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
