"""/metrics for Prometheus: protected, and every figure what the rows say."""

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import EmailDelivery, WebhookAttempt, WebhookDelivery
from tests.factories import failed_welcome_email, signup

pytestmark = pytest.mark.django_db

TOKEN = "a-long-scrape-token"


@pytest.fixture
def scraper(settings: object, client: Client) -> Client:
    settings.METRICS_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def scrape(client: Client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_an_anonymous_scrape_is_refused(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_a_scrape_with_another_token_is_refused(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 401


def test_the_token_alone_without_the_bearer_scheme_is_refused(
    client: Client, settings: object
) -> None:
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401


def test_the_token_under_another_scheme_is_refused(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401


def test_nobody_may_scrape_until_a_token_or_an_address_is_configured(client: Client) -> None:
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_an_allowed_address_may_scrape_without_a_token(client: Client, settings: object) -> None:
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 200


def test_the_figures_are_what_the_rows_say(scraper: Client, sync_tasks: None) -> None:
    alice = signup("alice")
    signup("bob")
    signup("carol", source="web")
    failed_welcome_email(alice.pk)
    EmailDelivery.objects.update(handover_ms=30)
    EmailDelivery.objects.filter(user=alice).update(handover_ms=700)
    delivery = WebhookDelivery.objects.create(
        event_id="6f1c0000-0000-0000-0000-000000000000",
        event_type="account.created",
        user=alice,
        url="https://hooks.example.com/",
    )
    for number, status in enumerate([503, None, 200], start=1):
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, status_code=status, duration_ms=5
        )

    figures = scrape(scraper)
    assert figures[("portal_signups_total", (("source", "api"),))] == 2
    assert figures[("portal_signups_total", (("source", "web"),))] == 1
    assert figures[("portal_emails_sent_total", (("kind", "welcome"),))] == 3
    assert figures[("portal_email_handover_seconds_bucket", (("le", "0.05"),))] == 2
    assert figures[("portal_email_handover_seconds_bucket", (("le", "1.0"),))] == 3
    assert figures[("portal_email_handover_seconds_sum", ())] == pytest.approx(0.76)
    failed = ("portal_tasks_failed_for_good", (("task", "accounts.tasks.send_welcome_email"),))
    assert figures[failed] == 1
    assert figures[("portal_webhook_attempts_total", (("outcome", "5xx"),))] == 1
    assert figures[("portal_webhook_attempts_total", (("outcome", "error"),))] == 1
    assert figures[("portal_webhook_attempts_total", (("outcome", "2xx"),))] == 1
    assert figures[("portal_clusters_reporting", ())] == 0
