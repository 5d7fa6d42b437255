"""The signup webhook, against a real HTTP server in the test process."""

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django_q.models import OrmQ, Schedule
from django_q.signing import SignedPackage

from accounts.models import User, WebhookDelivery
from tests.conftest import WEBHOOK_SECRET
from tests.factories import signup
from tests.support import (
    QCluster,
    RawHttpServer,
    SmtpServer,
    WebhookReceiver,
    free_port,
    wait_for,
)
from webhooks.delivery import deliver_webhook
from webhooks.events import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_is_valid,
)

pytestmark = pytest.mark.django_db


def signed_up_delivery(username: str = "alice") -> WebhookDelivery:
    user = signup(username)
    return WebhookDelivery.objects.get(user=user)


def test_no_webhook_is_queued_without_a_url(settings: object) -> None:
    settings.SIGNUP_WEBHOOK_URL = ""
    signup("alice")
    assert not WebhookDelivery.objects.exists()
    assert OrmQ.objects.count() == 2


def test_signup_queues_the_webhook_in_its_transaction(webhook_settings: WebhookReceiver) -> None:
    delivery = signed_up_delivery()
    assert delivery.status == "pending"
    assert OrmQ.objects.count() == 3
    assert webhook_settings.requests == []  # nothing is sent by the request itself


def test_webhook_posts_a_signed_account_created_event(webhook_settings: WebhookReceiver) -> None:
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1) == "delivered"

    [request] = webhook_settings.requests
    event = json.loads(request.body)
    user = User.objects.get(username="alice")
    assert event["type"] == "account.created"
    assert event["id"] == str(delivery.event_id)
    assert event["data"]["account"] == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.com",
        "created_at": user.date_joined.isoformat(),
    }
    assert request.headers[IDEMPOTENCY_HEADER] == str(delivery.event_id)
    assert signature_is_valid(
        request.body,
        request.headers[TIMESTAMP_HEADER],
        request.headers[SIGNATURE_HEADER],
        WEBHOOK_SECRET,
    )
    assert not signature_is_valid(
        request.body + b" ",
        request.headers[TIMESTAMP_HEADER],
        request.headers[SIGNATURE_HEADER],
        WEBHOOK_SECRET,
    )


def test_each_attempt_is_recorded_with_status_and_duration(
    webhook_settings: WebhookReceiver,
) -> None:
    webhook_settings.delay = 0.25
    delivery = signed_up_delivery()
    deliver_webhook(delivery.pk, 1)
    [attempt] = delivery.attempts.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert 250 <= attempt.duration_ms < 5000


def test_a_server_error_schedules_a_retry_after_a_growing_delay(
    webhook_settings: WebhookReceiver,
) -> None:
    webhook_settings.statuses = [503, 502]
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1).startswith("retry 2")
    assert deliver_webhook(delivery.pk, 2).startswith("retry 3")
    retries = Schedule.objects.filter(func="webhooks.delivery.deliver_webhook").order_by("next_run")
    assert [schedule.args for schedule in retries] == [
        repr((delivery.pk, 2)),
        repr((delivery.pk, 3)),
    ]
    first, second = delivery.attempts.all()
    delay_one = (retries[0].next_run - first.attempted_at).total_seconds()
    delay_two = (retries[1].next_run - second.attempted_at).total_seconds()
    assert delay_two > delay_one
    assert deliver_webhook(delivery.pk, 3) == "delivered"
    assert [a.status_code for a in delivery.attempts.all()] == [503, 502, 200]


def test_a_client_error_is_not_retried(webhook_settings: WebhookReceiver) -> None:
    webhook_settings.statuses = [400]
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1) == "failed"
    assert not Schedule.objects.filter(func="webhooks.delivery.deliver_webhook").exists()


@pytest.mark.parametrize("status", [408, 425, 429])
def test_an_answer_that_asks_for_a_later_try_is_retried(
    webhook_settings: WebhookReceiver, status: int
) -> None:
    webhook_settings.statuses = [status]
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1).startswith("retry 2")


def test_a_connection_error_is_retried(settings: object, webhook_settings: WebhookReceiver) -> None:
    delivery = signed_up_delivery()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(url=f"http://127.0.0.1:{free_port()}/")
    assert deliver_webhook(delivery.pk, 1).startswith("retry 2")
    assert "ConnectError" in delivery.attempts.get().error


def test_the_last_attempt_failing_marks_the_delivery_failed(
    webhook_settings: WebhookReceiver,
) -> None:
    webhook_settings.statuses = [500, 500, 500]
    delivery = signed_up_delivery()
    for number in (1, 2):
        deliver_webhook(delivery.pk, number)
    assert deliver_webhook(delivery.pk, 3) == "failed"
    assert len(webhook_settings.requests) == 3


def test_staff_send_a_delivery_that_failed_for_good_again_from_the_admin(
    webhook_settings: WebhookReceiver, admin_client: Client
) -> None:
    webhook_settings.statuses = [400]
    delivery = signed_up_delivery()
    deliver_webhook(delivery.pk, 1)
    OrmQ.objects.all().delete()
    response = admin_client.post(
        "/admin/accounts/webhookdelivery/",
        {"action": "send_again", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert "Queued one more attempt of 1 failed delivery(ies)." in response.content.decode()
    [queued] = [SignedPackage.loads(row.payload) for row in OrmQ.objects.all()]
    assert (queued["func"], queued["args"]) == (
        "webhooks.delivery.deliver_webhook",
        (delivery.pk, 2),
    )
    assert deliver_webhook(delivery.pk, 2) == "delivered"


def test_a_delivery_not_failed_is_not_sent_again(
    webhook_settings: WebhookReceiver, admin_client: Client
) -> None:
    delivery = signed_up_delivery()
    deliver_webhook(delivery.pk, 1)
    OrmQ.objects.all().delete()
    admin_client.post(
        "/admin/accounts/webhookdelivery/",
        {"action": "send_again", "_selected_action": [delivery.pk]},
    )
    assert not OrmQ.objects.exists()


def test_failed_deliveries_and_attempts_are_on_the_status_page(
    webhook_settings: WebhookReceiver, admin_client: Client
) -> None:
    """The webhook's task succeeds when its POST fails (it schedules the next attempt itself):
    the task queue's counts would show nothing wrong."""
    webhook_settings.statuses = [500, 500, 500, 502]
    failed = signed_up_delivery("alice")
    for number in (1, 2, 3):
        deliver_webhook(failed.pk, number)
    waiting = signed_up_delivery("bob")
    deliver_webhook(waiting.pk, 1)
    status = admin_client.get("/api/status/").json()["webhook"]
    assert (status["pending"], status["delivered_last_day"], status["failed"]) == (1, 0, 1)
    assert status["failed_attempts_last_hour"] == 4
    [failure] = status["recent_failures"]
    assert (failure["username"], failure["attempts"], failure["last_answer"]) == ("alice", 3, "500")
    page = admin_client.get("/staff/status/").content.decode()
    assert "Signup webhook" in page
    assert "Failed attempts in the last hour" in page


def test_the_status_page_has_no_webhook_section_without_a_webhook(admin_client: Client) -> None:
    signup("alice")
    assert admin_client.get("/api/status/").json()["webhook"] is None
    assert "Signup webhook" not in admin_client.get("/staff/status/").content.decode()


def test_the_webhook_of_a_deleted_account_is_not_posted(
    webhook_settings: WebhookReceiver,
) -> None:
    delivery = signed_up_delivery()
    delivery.user.delete()
    assert deliver_webhook(delivery.pk, 1) == "account deleted"
    assert webhook_settings.requests == []


def test_a_redelivered_attempt_does_not_post_again(webhook_settings: WebhookReceiver) -> None:
    webhook_settings.statuses = [500]
    delivery = signed_up_delivery()
    deliver_webhook(delivery.pk, 1)
    assert deliver_webhook(delivery.pk, 1) == "attempt 1 already made"
    assert len(webhook_settings.requests) == 1


@pytest.mark.integration
def test_a_worker_delivers_the_webhook_after_signup(
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    start_qcluster: Callable[..., QCluster],
    settings: object,
) -> None:
    settings.SIGNUP_WEBHOOK_URL = webhook_receiver.url
    settings.SIGNUP_WEBHOOK_SECRET = WEBHOOK_SECRET
    start_qcluster(SIGNUP_WEBHOOK_URL=webhook_receiver.url, SIGNUP_WEBHOOK_SECRET=WEBHOOK_SECRET)
    delivery = signed_up_delivery()
    wait_for(lambda: webhook_receiver.requests, message="the webhook POST")
    wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered")
    request = webhook_receiver.requests[0]
    assert signature_is_valid(
        request.body,
        request.headers[TIMESTAMP_HEADER],
        request.headers[SIGNATURE_HEADER],
        WEBHOOK_SECRET,
    )


def drip(connection: socket.socket) -> None:
    """A status line one byte at a time, each well within httpx's per-read timeout."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def flood(connection: socket.socket) -> None:
    """A 200 with a body that does not end."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        connection.sendall(chunk)


@pytest.fixture
def misbehaving_receiver(settings: object) -> Iterator[Callable[..., RawHttpServer]]:
    servers: list[RawHttpServer] = []

    def start(answer: Callable[[socket.socket], None]) -> RawHttpServer:
        server = RawHttpServer(answer)
        servers.append(server)
        settings.SIGNUP_WEBHOOK_URL = server.url
        settings.SIGNUP_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.WEBHOOK_TIMEOUT = 1
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(
    misbehaving_receiver: Callable[..., RawHttpServer],
) -> None:
    misbehaving_receiver(drip)
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1).startswith("retry 2")
    [attempt] = delivery.attempts.all()
    assert attempt.status_code is None
    assert attempt.error == "no answer within 1 s"
    assert 1000 <= attempt.duration_ms < 2000


def test_only_the_beginning_of_an_endless_answer_is_read(
    misbehaving_receiver: Callable[..., RawHttpServer],
) -> None:
    misbehaving_receiver(flood)
    delivery = signed_up_delivery()
    assert deliver_webhook(delivery.pk, 1) == "delivered"
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 200
    assert attempt.duration_ms < 1000
