"""Email verification, set-password, log in and out, forgotten passwords (tasks in sync mode)."""

import json
import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import formats, timezone
from django_q.models import OrmQ

from accounts.models import AuditRecord, User
from accounts.tokens import email_verification_token
from accounts.verification import mark_verified
from tests.factories import STRONG_PASSWORD, signup
from tests.outcomes import errors_of, post_json
from throttling.models import Counter

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"


def link_in(message: object, path_prefix: str) -> str:
    """The path of the first link in the email's text body that starts with path_prefix."""
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", message.body)
    assert match, f"no {path_prefix} link in:\n{message.body}"
    return match.group(1)


@pytest.fixture
def alice(sync_tasks: None, mailoutbox: list) -> User:
    user = signup("alice")
    mailoutbox.clear()
    return user


def welcome_for(username: str, mailoutbox: list, **fields: object) -> object:
    signup(username, **fields)
    [message] = [m for m in mailoutbox if m.to == [f"{username}@example.com"]]
    return message


# Verification


def test_welcome_email_carries_a_verification_link(sync_tasks: None, mailoutbox: list) -> None:
    message = welcome_for("alice", mailoutbox)
    assert link_in(message, "/verify-email/")
    assert "/verify-email/" in message.alternatives[0][0]


def test_opening_the_link_asks_to_confirm_and_changes_nothing(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    page = client.get(link).content.decode()
    assert "Is <strong>alice@example.com</strong> your address?" in page
    assert "Confirm my address" in page
    assert client.head(link).status_code == 200
    assert not User.objects.get(username="alice").is_email_verified
    assert not AuditRecord.objects.filter(action="email_verified").exists()


def test_confirming_verifies_the_address_and_records_it(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    response = client.post(link)
    assert response.status_code == 200
    assert "Email address verified" in response.content.decode()
    user = User.objects.get(username="alice")
    assert user.is_email_verified
    assert AuditRecord.objects.filter(user=user, action="email_verified").count() == 1


def test_a_used_link_says_the_address_is_already_verified(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    client.post(link)
    assert "Already verified" in client.get(link).content.decode()
    assert "Already verified" in client.post(link).content.decode()
    assert AuditRecord.objects.filter(action="email_verified").count() == 1


def test_a_link_for_an_address_changed_since_verifies_nothing(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    User.objects.filter(username="alice").update(email="other@example.com")
    assert client.post(link).status_code == 400
    assert not User.objects.get(username="alice").is_email_verified


def test_a_verification_does_not_mark_an_address_changed_since_it_was_read(alice: User) -> None:
    """The race with a correction: the link was checked against the old address, the UPDATE
    comes after the new one was saved."""
    read_before = User.objects.get(pk=alice.pk)
    User.objects.filter(pk=alice.pk).update(email="new@example.com")
    assert not mark_verified(read_before, ip_address=None)
    assert not User.objects.get(pk=alice.pk).is_email_verified


def test_a_tampered_link_is_refused_and_offers_a_new_one(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    assert client.post(link[:-3] + "xyz/").status_code == 400
    response = client.get(link[:-3] + "xyz/")
    page = response.content.decode()
    assert response.status_code == 400
    assert "This link does not work" in page
    assert 'action="/verify-email/resend/"' in page
    assert not User.objects.get(username="alice").is_email_verified


def test_an_expired_link_is_refused(
    sync_tasks: None, mailoutbox: list, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = link_in(welcome_for("alice", mailoutbox), "/verify-email/")
    later = datetime.now() + timedelta(days=4)
    monkeypatch.setattr(email_verification_token, "_now", lambda: later)
    assert client.get(link).status_code == 400
    assert client.post(link).status_code == 400
    assert not User.objects.get(username="alice").is_email_verified


def test_a_new_verification_link_can_be_asked_for_in_the_form(
    alice: User, client: Client, mailoutbox: list
) -> None:
    response = client.post("/verify-email/resend/", {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/verify-email/sent/"
    [message] = mailoutbox
    assert message.subject == "Confirm your email address"
    assert client.post(link_in(message, "/verify-email/")).status_code == 200
    assert User.objects.get(pk=alice.pk).is_email_verified


def test_asking_for_a_link_for_an_unknown_address_answers_the_same(
    sync_tasks: None, client: Client, mailoutbox: list
) -> None:
    response = client.post("/verify-email/resend/", {"email": "nobody@example.com"})
    assert response["Location"] == "/verify-email/sent/"
    assert mailoutbox == []


def test_no_new_link_is_sent_for_a_verified_address(
    alice: User, client: Client, mailoutbox: list
) -> None:
    User.objects.filter(pk=alice.pk).update(email_verified_at=datetime.now().astimezone())
    client.post("/verify-email/resend/", {"email": "alice@example.com"})
    assert mailoutbox == []


def test_asking_for_links_is_limited_per_client_and_address(
    alice: User, client: Client, mailoutbox: list, settings: object
) -> None:
    settings.EMAIL_REQUEST_COOLDOWN = 0
    for _ in range(3):
        assert (
            client.post("/verify-email/resend/", {"email": "alice@example.com"}).status_code == 302
        )
    response = client.post("/verify-email/resend/", {"email": "alice@example.com"})
    assert response.status_code == 429
    assert "Too many requests for this address." in response.content.decode()
    assert 3500 < int(response["Retry-After"]) <= 3601
    assert len(mailoutbox) == 3


def test_asking_again_inside_the_cooldown_uses_up_no_limit_of_the_address(
    alice: User, client: Client, mailoutbox: list
) -> None:
    """Four presses of "send it again" in a minute sent one email; they must not also refuse
    the person's password reset for an hour."""
    for _ in range(5):
        assert (
            client.post("/verify-email/resend/", {"email": "alice@example.com"}).status_code == 302
        )
    reset = client.post("/password-reset/", {"email": "alice@example.com"})
    assert reset.status_code == 302
    assert [message.subject for message in mailoutbox] == [
        "Confirm your email address",
        "Choose a new password",
    ]


def test_api_asks_for_a_new_verification_link(
    alice: User, client: Client, mailoutbox: list
) -> None:
    response = post_json(client, "/api/email-verifications/", {"email": "alice@example.com"})
    assert response.status_code == 202
    assert "new link is on its way" in response.json()["message"]
    assert len(mailoutbox) == 1


def test_api_answers_the_same_for_an_unknown_address(
    alice: User, client: Client, mailoutbox: list
) -> None:
    unknown = post_json(client, "/api/email-verifications/", {"email": "nobody@example.com"})
    known = post_json(client, "/api/email-verifications/", {"email": "alice@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert [message.to for message in mailoutbox] == [["alice@example.com"]]


def test_api_limits_requests_with_429_and_retry_after(
    alice: User, client: Client, settings: object
) -> None:
    settings.EMAIL_REQUEST_COOLDOWN = 0
    for _ in range(3):
        post_json(client, "/api/email-verifications/", {"email": "alice@example.com"})
    response = post_json(client, "/api/email-verifications/", {"email": "alice@example.com"})
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 3500 < int(response["Retry-After"]) <= 3601


def test_api_refuses_an_invalid_address_with_422(client: Client) -> None:
    response = post_json(client, "/api/email-verifications/", {"email": "a@b.com\nBcc: x@y.z"})
    assert response.status_code == 422
    assert response.json()["field"] == "email"
    assert not Counter.objects.exists()
    assert not OrmQ.objects.exists()


# Accounts without a password


def test_account_without_password_gets_a_set_password_link(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    message = welcome_for("bob", mailoutbox, password=None)
    link = link_in(message, "/password-reset/")
    form = client.get(link, follow=True)
    assert "Choose a password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert User.objects.get(username="bob").check_password(NEW_PASSWORD)


def test_set_password_applies_the_password_validators(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("bob", mailoutbox, password=None), "/password-reset/")
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 400  # as the portal's other forms answer errors
    assert "This password is too common." in errors_of(response, "id_new_password1")
    assert not User.objects.get(username="bob").has_usable_password()


def test_a_password_set_from_the_welcome_email_verifies_the_address_too(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    """That link went to the address as well: the person need not open the other one."""
    link = link_in(welcome_for("bob", mailoutbox, password=None), "/password-reset/")
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    bob = User.objects.get(username="bob")
    assert bob.is_email_verified
    assert bob.audit_records.filter(action=AuditRecord.Action.EMAIL_VERIFIED).count() == 1


def test_confirming_an_address_of_an_account_without_a_password_goes_on_to_choose_one(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    link = link_in(welcome_for("bob", mailoutbox, password=None), "/verify-email/")
    page = client.post(link).content.decode()
    assert "Your account has no password yet" in page
    set_link = re.search(r'href="https?://[^/"]+(/password-reset/[^"]+)"', page).group(1)
    set_url = client.get(set_link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert User.objects.get(username="bob").check_password(NEW_PASSWORD)


def test_a_used_verification_link_offers_no_password_link(
    sync_tasks: None, mailoutbox: list, client: Client
) -> None:
    """A link left in a browser's history is no way to choose the account's password."""
    link = link_in(welcome_for("bob", mailoutbox, password=None), "/verify-email/")
    client.post(link)
    again = Client().post(link).content.decode()
    assert "Already verified" in again
    assert "/password-reset/" not in again


def test_account_with_a_password_gets_no_set_password_link(
    sync_tasks: None, mailoutbox: list
) -> None:
    assert "/password-reset/" not in welcome_for("carol", mailoutbox).body


# Log in and out


def test_login_leads_to_the_account_page(alice: User, client: Client) -> None:
    response = client.post(
        "/login/", {"username": "alice", "password": STRONG_PASSWORD}, follow=True
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/account/"
    assert "Your account" in page
    assert "alice@example.com" in page
    assert "Not verified yet" in page
    assert formats.date_format(timezone.localtime(alice.date_joined), "DATETIME_FORMAT") in page


def test_login_ignores_the_letter_case_of_the_username(alice: User, client: Client) -> None:
    response = client.post("/login/", {"username": "ALICE", "password": STRONG_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_is_recorded(alice: User, client: Client) -> None:
    client.post("/login/", {"username": "alice", "password": STRONG_PASSWORD})
    record = AuditRecord.objects.get(action="login")
    assert record.user == alice
    assert record.ip_address == "127.0.0.1"


def test_failed_login_is_recorded_without_the_password(alice: User, client: Client) -> None:
    response = client.post("/login/", {"username": "alice", "password": "wrong-password-123"})
    assert response.status_code == 200
    assert "The username or the password is not right." in response.content.decode()
    record = AuditRecord.objects.get(action="login_failed")
    assert (record.user, record.username) == (alice, "alice")
    stored = json.dumps(list(AuditRecord.objects.values()), default=str)
    assert "wrong-password-123" not in stored


def test_failed_login_for_an_unknown_name_is_recorded_by_name(
    sync_tasks: None, client: Client
) -> None:
    client.post("/login/", {"username": "mallory", "password": "guess-guess-guess"})
    record = AuditRecord.objects.get(action="login_failed")
    assert (record.user, record.username) == (None, "mallory")


def test_account_page_needs_a_login(client: Client) -> None:
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/account/"


def test_logout_ends_the_session(alice: User, client: Client) -> None:
    client.force_login(alice)
    assert client.post("/logout/").status_code == 302
    assert client.get("/account/").status_code == 302


# Forgotten password


def test_forgot_password_sends_a_reset_link_by_task(
    alice: User, client: Client, mailoutbox: list
) -> None:
    response = client.post("/password-reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/password-reset/sent/"
    [message] = mailoutbox
    assert message.subject == "Choose a new password"
    set_url = client.get(link_in(message, "/password-reset/"), follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert User.objects.get(pk=alice.pk).check_password(NEW_PASSWORD)
    assert alice.audit_records.filter(action=AuditRecord.Action.PASSWORD_CHANGED).exists()


def test_a_password_reset_lifts_the_log_in_lock_of_its_username(
    alice: User, client: Client, mailoutbox: list, settings: object
) -> None:
    """The locked page offers the reset: it must not lead back to the locked page."""
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/login/", {"username": "alice", "password": "wrong-password"})
    client.post("/password-reset/", {"email": "alice@example.com"})
    set_url = client.get(link_in(mailoutbox[-1], "/password-reset/"), follow=True).redirect_chain
    client.post(set_url[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    response = client.post("/login/", {"username": "alice", "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_reset_link_works_once(alice: User, client: Client, mailoutbox: list) -> None:
    client.post("/password-reset/", {"email": "alice@example.com"})
    link = link_in(mailoutbox[0], "/password-reset/")
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = Client().get(link, follow=True)
    assert again.status_code == 400  # as a verification link that no longer works
    assert "<h1>This link no longer works</h1>" in again.content.decode()
    assert "<title>This link no longer works" in again.content.decode()


def test_forgot_password_never_reveals_whether_an_address_has_an_account(
    alice: User, client: Client, mailoutbox: list
) -> None:
    known = client.post("/password-reset/", {"email": "alice@example.com"})
    unknown = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mailoutbox) == 1


def test_forgot_password_request_queues_the_email_instead_of_sending_it(
    client: Client, mailoutbox: list
) -> None:
    signup("alice")
    OrmQ.objects.all().delete()
    client.post("/password-reset/", {"email": "alice@example.com"})
    assert mailoutbox == []
    assert OrmQ.objects.count() == 1


def test_api_password_reset_answers_202_either_way(
    alice: User, client: Client, mailoutbox: list
) -> None:
    known = post_json(client, "/api/password-resets/", {"email": "alice@example.com"})
    unknown = post_json(client, "/api/password-resets/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(mailoutbox) == 1


def test_forgot_password_is_limited_per_address(
    alice: User, client: Client, settings: object
) -> None:
    settings.EMAIL_REQUEST_COOLDOWN = 0
    for _ in range(3):
        client.post("/password-reset/", {"email": "alice@example.com"})
    response = client.post("/password-reset/", {"email": "alice@example.com"})
    assert response.status_code == 429


def test_passwords_are_hashed_with_argon2(alice: User) -> None:
    assert User.objects.get(pk=alice.pk).password.startswith("argon2$")


def test_a_person_logged_in_changes_their_password_with_the_current_one(
    alice: User, client: Client
) -> None:
    client.force_login(alice)
    page = client.get("/account/").content.decode()
    assert 'href="/account/password/"' in page
    response = client.post(
        "/account/password/",
        {
            "old_password": STRONG_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response["Location"] == "/account/"
    assert User.objects.get(pk=alice.pk).check_password(NEW_PASSWORD)
    assert "Your new password is set." in client.get("/account/").content.decode()


def test_a_weak_new_password_is_told_under_the_new_password_field(
    alice: User, client: Client
) -> None:
    client.force_login(alice)
    response = client.post(
        "/account/password/",
        {"old_password": STRONG_PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert "This password is too short. It must contain at least 8 characters." in errors_of(
        response, "id_new_password1"
    )
    assert errors_of(response, "id_new_password2") == []


def test_a_wrong_current_password_changes_nothing(alice: User, client: Client) -> None:
    client.force_login(alice)
    response = client.post(
        "/account/password/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert User.objects.get(pk=alice.pk).check_password(STRONG_PASSWORD)


def test_the_admins_password_change_leads_to_the_one_held_to_the_log_in_limit(
    client: Client,
) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", STRONG_PASSWORD))
    response = client.post("/admin/password_change/", {"old_password": "guess"})
    assert (response.status_code, response["Location"]) == (302, "/account/password/")


def test_changing_a_password_needs_a_log_in(client: Client) -> None:
    assert client.get("/account/password/")["Location"].startswith("/login/")


def test_guesses_of_the_current_password_are_held_to_the_log_in_limit(
    alice: User, client: Client, settings: object
) -> None:
    settings.LOGIN_FAILURE_LIMIT = 2
    client.force_login(alice)
    change = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    for guess in ("guess-one", "guess-two"):
        client.post("/account/password/", {"old_password": guess, **change})
    response = client.post("/account/password/", {"old_password": STRONG_PASSWORD, **change})
    assert response.status_code == 400
    assert "Too many wrong passwords." in response.content.decode()
    assert User.objects.get(pk=alice.pk).check_password(STRONG_PASSWORD)
