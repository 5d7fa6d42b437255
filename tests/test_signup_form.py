"""The browser form at /signup/."""

import pytest
from django.test import Client
from django_q.models import OrmQ

from accounts.models import User
from tests.factories import STRONG_PASSWORD, signup

pytestmark = pytest.mark.django_db


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "password": STRONG_PASSWORD,
        "password_confirmation": STRONG_PASSWORD,
    }
    data.update(overrides)
    return data


def test_form_has_a_label_for_every_field_and_a_csrf_token(client: Client) -> None:
    page = client.get("/signup/").content.decode()
    for field in ["username", "email", "password", "password_confirmation"]:
        assert f'<label for="id_{field}">' in page
        assert f'id="id_{field}"' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_valid_signup_redirects_to_a_page_that_says_the_email_is_on_its_way(
    client: Client,
) -> None:
    response = client.post("/signup/", form_data())
    assert response.status_code == 302
    assert response["Location"] == "/signup/done/"
    page = client.get("/signup/done/").content.decode()
    assert "Check your inbox" in page
    assert "welcome email is on its way" in page
    assert "alice@example.com" in page
    assert User.objects.filter(username="alice").exists()
    assert OrmQ.objects.count() == 2


def test_done_page_without_a_signup_sends_to_the_form(client: Client) -> None:
    response = client.get("/signup/done/")
    assert response.status_code == 302
    assert response["Location"] == "/signup/"


def test_errors_keep_what_was_typed_but_never_the_password(client: Client) -> None:
    response = client.post("/signup/", form_data(username="bad name"))
    page = response.content.decode()
    assert response.status_code == 400
    assert 'value="bad name"' in page
    assert 'value="alice@example.com"' in page
    assert STRONG_PASSWORD not in page
    assert "Enter a valid username" in page
    assert not User.objects.exists()


def test_field_error_is_tied_to_its_input(client: Client) -> None:
    page = client.post("/signup/", form_data(email="nope")).content.decode()
    assert 'aria-describedby="id_email_errors"' in page
    assert '<ul class="errors" id="id_email_errors">' in page


def test_mismatched_password_confirmation_is_reported_on_that_field(client: Client) -> None:
    response = client.post("/signup/", form_data(password_confirmation="something-else-entirely"))
    assert response.status_code == 400
    assert "The two passwords do not match." in response.content.decode()
    assert not User.objects.exists()


def test_weak_password_is_reported_on_the_password_field(client: Client) -> None:
    page = client.post(
        "/signup/", form_data(password="12345678", password_confirmation="12345678")
    ).content.decode()
    assert "This password is too common." in page
    assert 'id="id_password_errors"' in page


def test_taken_username_is_reported_on_the_username_field(client: Client) -> None:
    signup("alice", email="first@example.com")
    response = client.post("/signup/", form_data(username="ALICE"))
    assert response.status_code == 400
    assert "An account with this username already exists." in response.content.decode()
    assert User.objects.count() == 1


def test_missing_fields_are_each_reported(client: Client) -> None:
    response = client.post("/signup/", {})
    assert response.status_code == 400
    # Beside each field, and again in the summary at the top.
    assert response.content.decode().count("This field is required.") == 8


def test_post_without_csrf_token_is_refused_with_a_clear_page() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/signup/", form_data())
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert not User.objects.exists()


def test_unknown_page_answers_404_with_our_page(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
