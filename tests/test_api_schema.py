"""Property-based checks of the API against its own OpenAPI schema (schemathesis).

Generated requests, valid and invalid, must never get a 5xx, and every answer must match the
documented status codes and response schemas.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts.models import User
from portal.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture(autouse=True)
def keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: the WSGI request must not close the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_answers_match_the_documented_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()  # with the checks configured in schemathesis.toml


@pytest.mark.django_db
def test_schema_examples_create_an_account() -> None:
    """The documented example body is itself a valid signup."""
    operation = schema["/api/signups/"]["POST"]
    response = operation.Case(
        body={"username": "alice", "email": "alice@example.com"}
    ).call_and_validate()
    assert response.status_code == 201
    assert User.objects.filter(username="alice").exists()
