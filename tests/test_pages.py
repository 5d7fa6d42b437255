"""What a person reads on the portal's pages, rendered by the server: no markup shown as text,
every problem findable, no dead ends."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from accounts.models import User
from tests.factories import signup

pytestmark = pytest.mark.django_db

PAGES_FOR_EVERYONE = ["/", "/signup/", "/login/", "/password-reset/", "/verify-email/resend/"]


@pytest.fixture
def alice() -> User:
    return signup("alice")


def test_the_password_rules_are_listed_on_the_signup_form_from_the_start(client: Client) -> None:
    page = client.get("/signup/").content.decode()
    assert re.search(r'<div class="help" id="id_password_help"><ul><li>', page)
    assert "&lt;ul&gt;" not in page


def test_the_choose_a_password_page_lists_the_rules_as_a_list(
    alice: User, client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    client.post("/password-reset/", {"email": "alice@example.com"})
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+)", mailoutbox[-1].body).group(1)
    page = client.get(link, follow=True).content.decode()
    assert "<ul><li>" in page
    assert "&lt;ul&gt;" not in page
    assert "&lt;li&gt;" not in page


def test_a_failed_submit_says_error_in_the_title_and_links_each_problem(client: Client) -> None:
    page = client.post("/signup/", {"username": "bad name", "email": "x"}).content.decode()
    assert re.search(r"<title>Error: Create an account", page)
    summary = page[page.index('id="error-summary"') :]
    assert "There are 4 problems" in summary
    for field in ["username", "email", "password", "password_confirmation"]:
        assert f'href="#id_{field}"' in summary


def test_a_page_without_errors_has_no_error_title_or_summary(client: Client) -> None:
    page = client.get("/signup/").content.decode()
    assert "Error:" not in page
    assert "error-summary" not in page


def test_opening_the_logout_address_asks_before_logging_out(alice: User, client: Client) -> None:
    client.force_login(alice)
    page = client.get("/logout/")
    assert page.status_code == 200
    assert "Log out?" in page.content.decode()
    assert client.get("/account/").status_code == 200  # still logged in


def test_logging_out_says_so_on_the_next_page(alice: User, client: Client) -> None:
    client.force_login(alice)
    page = client.post("/logout/", follow=True).content.decode()
    assert "You have been logged out." in page


def test_opening_the_logout_address_logged_out_goes_home(client: Client) -> None:
    assert client.get("/logout/")["Location"] == "/"


def test_a_logged_in_person_opening_the_signup_form_is_told_who_they_are(
    alice: User, client: Client
) -> None:
    client.force_login(alice)
    page = client.get("/signup/").content.decode()
    assert "You are logged in as <strong>alice</strong>" in page


def test_the_new_link_form_is_filled_in_for_a_logged_in_person(alice: User, client: Client) -> None:
    client.force_login(alice)
    page = client.get("/verify-email/resend/").content.decode()
    assert 'value="alice@example.com"' in page


def test_the_signup_form_offers_to_log_in_instead(client: Client) -> None:
    page = client.get("/signup/").content.decode()
    assert "Already have an account?" in page
    assert 'href="/login/"' in page


def test_usernames_and_addresses_are_not_spellchecked(client: Client) -> None:
    page = client.get("/signup/").content.decode()
    for field in ["username", "email"]:
        tag = re.search(rf'<input[^>]*id="id_{field}"[^>]*>', page).group(0)
        assert 'spellcheck="false"' in tag


@pytest.mark.parametrize("path", PAGES_FOR_EVERYONE)
def test_every_page_has_a_skip_link_an_icon_and_the_language_switcher(
    client: Client, path: str
) -> None:
    page = client.get(path).content.decode()
    assert '<a class="skip-link" href="#content">' in page
    assert '<main id="content"' in page
    icon = re.search(r'<link rel="icon" href="/static/([^"]+)"', page).group(1)
    assert finders.find(icon)
    assert 'action="/i18n/setlang/"' in page


def test_the_navigation_marks_the_page_being_shown(client: Client) -> None:
    page = client.get("/login/").content.decode()
    assert '<a href="/login/" aria-current="page">' in page
    assert '<a href="/signup/">' in page


def test_browsers_asking_for_favicon_ico_get_the_portals_icon(client: Client) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 302
    assert finders.find(answer["Location"].removeprefix("/static/"))


@pytest.mark.parametrize("path", ["/", "/signup/", "/verify-email/resend/", "/healthz", "/readyz"])
def test_a_head_request_is_answered_as_a_get_without_a_body(client: Client, path: str) -> None:
    """Uptime checks and load balancers often probe with HEAD."""
    response = client.head(path)
    assert response.status_code == client.get(path).status_code != 405
    assert response.content == b""


@pytest.mark.parametrize("debug", [True, False])
def test_a_form_sent_to_an_address_without_its_slash_is_sent_on_with_its_method(
    client: Client, settings: object, debug: bool
) -> None:
    """308, not Django's 301 (which browsers follow with a GET) nor, under DEBUG, an error."""
    settings.DEBUG = debug
    response = client.post("/signup?next=x", {"username": "alice"})
    assert response.status_code == 308
    assert response["Location"] == "/signup/?next=x"
    assert client.get("/signup")["Location"] == "/signup/"
