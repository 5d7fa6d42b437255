"""The browser form at /signup/."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from accounts.address_correction import replace_email
from accounts.identity import username_key
from accounts.models import AuditRecord, User
from accounts.throttle import login_failures
from tests.factories import STRONG_PASSWORD, signup
from tests.outcomes import errors_of

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
    assert "We sent an email to <strong>alice@example.com</strong>" in page
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


def test_a_taken_username_is_reported_with_the_other_mistakes(client: Client) -> None:
    signup("alice", email="first@example.com")
    response = client.post("/signup/", form_data(username="alice", email="nope"))
    page = response.content.decode()
    assert "An account with this username already exists." in page
    assert "Enter a valid email address." in page


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


@pytest.mark.parametrize(
    ("sent_to", "referer", "link"),
    [
        ("/login/", "", "/login/"),
        ("/verify-email/resend/", "http://testserver/signup/done/", "/signup/done/"),
        ("/login/", "https://elsewhere.example/other/", "/login/"),
        ("/login/", "http://testserver//elsewhere.example/x", "/login/"),
    ],
)
def test_an_expired_form_links_back_to_the_page_it_was_on(
    sent_to: str, referer: str, link: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(sent_to, {}, HTTP_REFERER=referer)
    assert response.status_code == 403
    assert f'<a href="{link}">open the form again</a>' in response.content.decode()


def test_unknown_page_answers_404_with_our_page(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


# The minutes after signing up


def form_token(client: Client) -> str:
    page = client.get("/signup/").content.decode()
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def test_the_same_form_sent_twice_lands_on_the_success_page(client: Client) -> None:
    """A double click: the second request leaves before the first answer sets a cookie."""
    data = form_data(form_token=form_token(client))
    client.post("/signup/", data)
    again = Client().post("/signup/", data)
    assert again.status_code == 302
    assert again["Location"] == "/signup/done/"
    assert User.objects.count() == 1
    assert OrmQ.objects.count() == 2


def test_the_form_sent_again_by_a_stranger_with_another_password_gets_no_right_over_the_account(
    client: Client,
) -> None:
    data = form_data(form_token=form_token(client))
    client.post("/signup/", data)
    stranger = Client()
    answer = stranger.post(
        "/signup/",
        {**data, "password": "Another-pass-4711", "password_confirmation": "Another-pass-4711"},
    )
    assert answer.status_code == 400
    assert "An account with this username already exists." in answer.content.decode()
    # The right password too: without the session that made the account, it moves nothing.
    stranger.post(
        "/signup/done/email/", {"email": "mallory@example.com", "password": STRONG_PASSWORD}
    )
    assert User.objects.get().email == "alice@example.com"


def test_passwords_guessed_by_sending_the_form_again_are_held_to_the_log_in_limit(
    client: Client, settings: object
) -> None:
    settings.LOGIN_FAILURE_LIMIT = 2
    data = form_data(form_token=form_token(client))
    client.post("/signup/", data)
    for guess in ("Guess-number-1111", "Guess-number-2222"):
        Client().post("/signup/", {**data, "password": guess, "password_confirmation": guess})
    assert Client().post("/signup/", data).status_code == 400  # the right one, too late
    assert login_failures("username").reached(username_key("alice"))


def test_the_same_form_sent_twice_counts_no_failed_log_in(client: Client) -> None:
    data = form_data(form_token=form_token(client))
    client.post("/signup/", data)
    Client().post("/signup/", data)
    assert not login_failures("username").reached(username_key("alice"))
    assert not AuditRecord.objects.filter(action=AuditRecord.Action.LOGIN_FAILED).exists()


def test_another_form_with_the_same_name_and_password_is_told_the_name_is_taken(
    client: Client,
) -> None:
    client.post("/signup/", form_data(form_token=form_token(client)))
    stranger = Client()
    answer = stranger.post("/signup/", form_data(form_token=form_token(stranger)))
    assert answer.status_code == 400
    assert "An account with this username already exists." in answer.content.decode()


def test_the_same_signup_sent_again_from_a_reloaded_form_lands_on_the_success_page(
    client: Client,
) -> None:
    """Back after signing up reloads the form with a new token; the browser's session still
    remembers the signup it made."""
    client.post("/signup/", form_data(form_token=form_token(client)))
    again = client.post("/signup/", form_data(form_token=form_token(client)))
    assert again.status_code == 302
    assert again["Location"] == "/signup/done/"
    assert User.objects.count() == 1


def test_a_reloaded_form_with_another_password_is_told_the_name_is_taken(client: Client) -> None:
    client.post("/signup/", form_data(form_token=form_token(client)))
    other = "Another-pass-4711"
    again = client.post(
        "/signup/",
        form_data(form_token=form_token(client), password=other, password_confirmation=other),
    )
    assert again.status_code == 400
    assert "An account with this username already exists." in again.content.decode()


def test_a_form_sent_twice_with_another_name_is_told_the_name_is_taken(client: Client) -> None:
    signup("bob")
    token = form_token(client)
    client.post("/signup/", form_data(form_token=token))
    answer = Client().post("/signup/", form_data(form_token=token, username="bob"))
    assert answer.status_code == 400
    assert "An account with this username already exists." in answer.content.decode()


def test_a_form_refused_as_taken_and_sent_again_is_refused_again(client: Client) -> None:
    signup("alice", email="first@example.com")
    data = form_data(form_token=form_token(client))
    assert client.post("/signup/", data).status_code == 400
    assert Client().post("/signup/", data).status_code == 400


def test_with_taken_addresses_hidden_the_same_form_sent_twice_lands_on_the_success_page(
    client: Client, settings: object
) -> None:
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("owner", email="alice@example.com")
    data = form_data(form_token=form_token(client))
    assert client.post("/signup/", data)["Location"] == "/signup/done/"
    again = Client().post("/signup/", data)
    assert again.status_code == 302
    assert again["Location"] == "/signup/done/"


def test_with_taken_addresses_hidden_the_form_sent_again_with_another_password_is_refused(
    client: Client, settings: object
) -> None:
    """As it is where an account was made: the answer tells neither apart."""
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("owner", email="alice@example.com")
    data = form_data(form_token=form_token(client))
    client.post("/signup/", data)
    other = {"password": "Another-pass-4711", "password_confirmation": "Another-pass-4711"}
    again = Client().post("/signup/", {**data, **other})
    assert again.status_code == 400
    assert "An account with this username already exists." in again.content.decode()


def test_a_taken_name_offers_to_log_in_or_choose_a_new_password(client: Client) -> None:
    signup("alice", email="first@example.com")
    page = client.post("/signup/", form_data()).content.decode()
    assert 'href="/login/"' in page
    assert 'href="/password-reset/"' in page


def test_a_taken_name_and_address_are_both_told_next_to_their_fields(client: Client) -> None:
    signup("alice", email="alice@example.com")
    response = client.post("/signup/", form_data())
    assert response.status_code == 400
    assert errors_of(response, "id_username") == ["An account with this username already exists."]
    assert errors_of(response, "id_email") == ["An account with this email already exists."]


def test_a_mistyped_address_is_corrected_from_the_success_page(
    client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    [welcome] = mailoutbox
    corrected = client.post(
        "/signup/done/email/", {"email": "alice@example.com", "password": STRONG_PASSWORD}
    )
    assert corrected.status_code == 302
    assert User.objects.get().email == "alice@example.com"
    assert mailoutbox[-1].to == ["alice@example.com"]
    page = client.get(corrected["Location"]).content.decode()
    assert "Your address is now <strong>alice@example.com</strong>" in page
    old_link = welcome.body.split("/verify-email/")[1].split()[0]
    assert client.get(f"/verify-email/{old_link}").status_code == 400


def test_a_correction_leaves_an_address_verified_meanwhile_as_it_is(
    client: Client, sync_tasks: None
) -> None:
    """The link opened between the correction's check and its write: the write is refused."""
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    seen_unverified = User.objects.get()
    User.objects.update(email_verified_at=timezone.now())
    with pytest.raises(ValidationError) as refused:
        replace_email(seen_unverified, "victim@example.com", ip_address=None)
    assert refused.value.error_dict["email"][0].code == "too_late"
    assert User.objects.get().email == "alice@exmaple.com"


def test_a_corrected_address_gets_no_second_confirmation_inside_the_cooldown(
    client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    client.post("/signup/done/email/", {"email": "alice@example.com", "password": STRONG_PASSWORD})
    client.post("/verify-email/resend/", {"email": "alice@example.com"})
    assert [message.to for message in mailoutbox[1:]] == [["alice@example.com"]]


def test_corrections_back_and_forth_send_one_address_one_confirmation_inside_the_cooldown(
    client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    client.post("/signup/", form_data(email="mallory@example.com"))
    for email in ["victim@example.com", "mallory2@example.com", "victim@example.com"]:
        client.post("/signup/done/email/", {"email": email, "password": STRONG_PASSWORD})
    assert [message.to for message in mailoutbox].count(["victim@example.com"]) == 1


def test_corrections_past_the_limit_are_answered_429_with_when_to_try_again(
    client: Client, settings: object
) -> None:
    settings.EMAIL_REQUESTS_PER_CLIENT_HOURLY = 1
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    client.post("/signup/done/email/", {"email": "alice@example.com", "password": STRONG_PASSWORD})
    answer = client.post(
        "/signup/done/email/", {"email": "alice@example.org", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 429
    assert 3500 < int(answer["Retry-After"]) <= 3601
    assert "Try again in 60 minutes." in answer.content.decode()


def test_a_correction_inside_the_cooldown_says_no_new_link_was_sent_yet(
    client: Client, sync_tasks: None, mailoutbox: list
) -> None:
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    Client().post("/verify-email/resend/", {"email": "alice@example.com"})  # starts the cooldown
    corrected = client.post(
        "/signup/done/email/", {"email": "alice@example.com", "password": STRONG_PASSWORD}
    )
    assert corrected["Location"] == "/signup/done/?corrected=wait"
    page = client.get(corrected["Location"]).content.decode()
    assert "no new link was sent yet: in a minute, send the email again" in page
    assert [message.to for message in mailoutbox] == [["alice@exmaple.com"]]


def test_an_address_is_corrected_only_by_the_browser_that_signed_up(client: Client) -> None:
    client.post("/signup/", form_data())
    stranger = Client().post(
        "/signup/done/email/", {"email": "mallory@example.com", "password": STRONG_PASSWORD}
    )
    assert stranger.status_code == 302
    assert stranger["Location"] == "/signup/"
    assert User.objects.get().email == "alice@example.com"


@pytest.mark.parametrize(
    ("password", "refusal"),
    [
        ("", "This field is required."),
        ("Another-pass-4711", "This is not the password you chose when you signed up."),
    ],
)
def test_the_browser_that_signed_up_corrects_the_address_only_with_the_password(
    client: Client, sync_tasks: None, mailoutbox: list, password: str, refusal: str
) -> None:
    """Whoever sits down next at a shared browser could otherwise take the account: a new
    address, its confirmation, then a password reset."""
    client.post("/signup/", form_data())
    answer = client.post(
        "/signup/done/email/", {"email": "mallory@example.com", "password": password}
    )
    assert answer.status_code == 400
    assert errors_of(answer, "id_password") == [refusal]
    assert User.objects.get().email == "alice@example.com"
    assert [message.to for message in mailoutbox] == [["alice@example.com"]]


def test_passwords_guessed_by_correcting_the_address_are_held_to_the_log_in_limit(
    client: Client, settings: object
) -> None:
    settings.LOGIN_FAILURE_LIMIT = 2
    client.post("/signup/", form_data())
    for guess in ("guess-one", "guess-two"):
        client.post("/signup/done/email/", {"email": "mallory@example.com", "password": guess})
    answer = client.post(
        "/signup/done/email/", {"email": "mallory@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 400
    assert "Too many wrong passwords." in answer.content.decode()
    assert User.objects.get().email == "alice@example.com"


def test_whoever_logs_in_next_in_the_browser_cannot_correct_the_address(client: Client) -> None:
    client.post("/signup/", form_data())
    client.force_login(signup("bob"))
    client.post("/login/", {"username": "bob", "password": STRONG_PASSWORD})
    answer = client.post(
        "/signup/done/email/", {"email": "mallory@example.com", "password": STRONG_PASSWORD}
    )
    assert answer["Location"] == "/signup/"
    assert User.objects.get(username="alice").email == "alice@example.com"


def test_signing_up_gives_the_browser_a_new_session_key(client: Client) -> None:
    client.get("/signup/")
    client.session.save()
    before = client.session.session_key
    client.post("/signup/", form_data())
    assert client.session.session_key != before


def test_an_address_cannot_be_corrected_to_one_that_is_taken(client: Client) -> None:
    signup("bob")
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    answer = client.post(
        "/signup/done/email/", {"email": "BOB@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 400
    assert "An account with this email already exists." in answer.content.decode()
    assert User.objects.get(username="alice").email == "alice@exmaple.com"


@pytest.fixture
def rita_typed_daves_address(client: Client, settings: object) -> None:
    """With taken addresses hidden, rita signs up with dave's address, in the test's client:
    answered as made, with no account behind it."""
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("dave", email="dave@example.com")
    client.post("/signup/", form_data(username="rita", email="dave@example.com"))


def test_with_taken_addresses_hidden_a_typo_onto_someones_address_corrected_makes_the_account(
    sync_tasks: None, mailoutbox: list, client: Client, rita_typed_daves_address: None
) -> None:
    """Answered as made, with no account behind it: corrected to the person's own address, the
    signup makes the account they meant, with their password, instead of leaving them a held
    name and a link that never comes."""
    assert not User.objects.filter(username="rita").exists()
    mailoutbox.clear()
    answer = client.post(
        "/signup/done/email/", {"email": "rita@example.com", "password": STRONG_PASSWORD}
    )
    assert answer["Location"] == "/signup/done/?corrected"
    rita = User.objects.get(username="rita")
    assert rita.email == "rita@example.com"
    assert rita.check_password(STRONG_PASSWORD)
    assert [message.to for message in mailoutbox] == [["rita@example.com"]]
    assert "rita@example.com" in client.get("/signup/done/").content.decode()


def test_with_taken_addresses_hidden_a_correction_comes_too_late_after_30_minutes_alike(
    client: Client, rita_typed_daves_address: None
) -> None:
    """As an account made stops being correctable: else the difference would tell."""
    session = client.session
    session["signed_up"]["answered_at"] = (timezone.now() - timedelta(minutes=31)).isoformat()
    session.save()
    answer = client.post(
        "/signup/done/email/", {"email": "rita@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 400
    assert "This address can no longer be changed here." in answer.content.decode()
    assert not User.objects.filter(username="rita").exists()


def test_with_taken_addresses_hidden_a_correction_asks_for_the_password_all_the_same(
    client: Client, rita_typed_daves_address: None
) -> None:
    answer = client.post(
        "/signup/done/email/", {"email": "rita@example.com", "password": "Another-pass-4711"}
    )
    assert answer.status_code == 400
    assert "This is not the password you chose when you signed up." in answer.content.decode()
    assert not User.objects.filter(username="rita").exists()


def test_with_taken_addresses_hidden_a_correction_to_one_looks_like_any_other(
    client: Client, settings: object, sync_tasks: None, mailoutbox: list
) -> None:
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("bob")
    client.post("/signup/", form_data(email="alice@exmaple.com"))
    answer = client.post(
        "/signup/done/email/", {"email": "BOB@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 302
    assert User.objects.get(username="alice").email == "alice@exmaple.com"
    assert mailoutbox[-1].to == ["bob@example.com"]  # the owner is told someone tried


@pytest.mark.parametrize("address_taken", [True, False])
def test_with_taken_addresses_hidden_a_correction_answers_alike_whether_an_account_was_made(
    client: Client, settings: object, sync_tasks: None, address_taken: bool
) -> None:
    """Inside the new address's cooldown the answer is the same whether the signup made an
    account or was only answered as if it had."""
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    if address_taken:
        signup("bob", email="probed@example.com")
    client.post("/verify-email/resend/", {"email": "mine@example.com"})  # the cooldown starts
    client.post("/signup/", form_data(email="probed@example.com"))
    answer = client.post(
        "/signup/done/email/", {"email": "mine@example.com", "password": STRONG_PASSWORD}
    )
    assert answer["Location"] == "/signup/done/?corrected=wait"


def test_correcting_to_the_same_address_says_it_is_the_one_the_email_went_to(
    client: Client,
) -> None:
    client.post("/signup/", form_data())
    answer = client.post(
        "/signup/done/email/", {"email": "ALICE@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 400
    assert "This is the address the email went to." in answer.content.decode()


def test_a_verified_address_is_no_longer_corrected_from_the_success_page(client: Client) -> None:
    client.post("/signup/", form_data())
    User.objects.update(email_verified_at=timezone.now())
    answer = client.post(
        "/signup/done/email/", {"email": "other@example.com", "password": STRONG_PASSWORD}
    )
    assert answer.status_code == 400
    assert User.objects.get().email == "alice@example.com"


def test_opening_the_correction_address_goes_back_to_the_success_page(client: Client) -> None:
    client.post("/signup/", form_data())
    assert client.get("/signup/done/email/")["Location"] == "/signup/done/"
