"""Limits: log-in failures, signups per client, emails a person asks for; counted atomically."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django_q.models import OrmQ

from accounts.models import AuditRecord, User
from tests.factories import STRONG_PASSWORD, signup
from tests.outcomes import post_json
from throttling.limits import Limit, RateLimited

pytestmark = pytest.mark.django_db


def log_in(client: Client, username: str, password: str, url: str = "/login/") -> object:
    return client.post(url, {"username": username, "password": password})


# Log-in


def test_log_in_is_refused_for_a_while_after_repeated_failures_for_one_account(
    sync_tasks: None, settings: object
) -> None:
    signup("alice")
    answers = [
        log_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), "alice", "wrong-password").status_code
        for number in range(settings.LOGIN_FAILURE_LIMIT)
    ]
    assert answers == [200] * (settings.LOGIN_FAILURE_LIMIT - 1) + [429]
    owner = Client(REMOTE_ADDR="203.0.113.5")
    response = log_in(owner, "ALICE", STRONG_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert 290 < int(response["Retry-After"]) <= 301
    assert not owner.session.get("_auth_user_id")


def test_log_in_is_refused_for_a_while_after_repeated_failures_from_one_client(
    settings: object,
) -> None:
    signup("alice")
    client = Client(REMOTE_ADDR="198.51.100.7")
    for number in range(settings.LOGIN_CLIENT_FAILURE_LIMIT):
        log_in(client, f"guess{number}", "wrong-password")
    assert log_in(client, "alice", STRONG_PASSWORD).status_code == 429


def test_one_persons_own_failures_lock_their_username_not_their_network(
    settings: object,
) -> None:
    signup("alice")
    signup("bob")
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "alice", "wrong-password")
    assert log_in(client, "alice", STRONG_PASSWORD).status_code == 429
    assert log_in(client, "bob", STRONG_PASSWORD).status_code == 302


def test_failures_from_requests_without_an_address_lock_no_one_else_out(
    settings: object,
) -> None:
    """They all count as one client: a lock on it would lock out everybody behind the socket."""
    signup("alice")
    client = Client(REMOTE_ADDR="")
    for number in range(settings.LOGIN_CLIENT_FAILURE_LIMIT):
        log_in(client, f"guess{number}", "wrong-password")
    assert log_in(client, "alice", STRONG_PASSWORD).status_code == 302


def test_the_admin_log_in_is_throttled_too(settings: object) -> None:
    User.objects.create_superuser("root", "root@example.com", STRONG_PASSWORD)
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "root", "wrong-password", "/admin/login/")
    response = log_in(client, "root", STRONG_PASSWORD, "/admin/login/")
    assert response.status_code == 429


def test_a_lockout_is_audited(sync_tasks: None, settings: object) -> None:
    alice = signup("alice")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "alice", "wrong-password")
    record = AuditRecord.objects.get(action="login_locked_out")
    assert record.user == alice


def test_staff_lift_the_lock_of_an_account_in_the_admin(settings: object) -> None:
    alice = signup("alice")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "alice", "wrong-password")
    assert log_in(client, "alice", STRONG_PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    response = staff.post(
        "/admin/accounts/user/",
        {"action": "lift_login_lock", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "Lifted the log-in lock of 1 account(s)." in response.content.decode()
    assert log_in(client, "alice", STRONG_PASSWORD).status_code == 302


def test_log_ins_refused_during_a_lock_neither_prolong_it_nor_are_audited_again(
    sync_tasks: None, settings: object
) -> None:
    signup("alice")
    for number in range(settings.LOGIN_FAILURE_LIMIT + 3):
        log_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), "alice", "wrong-password")
    failed = AuditRecord.objects.filter(action="login_failed").count()
    assert failed == settings.LOGIN_FAILURE_LIMIT
    assert AuditRecord.objects.filter(action="login_locked_out").count() == 1


def test_a_success_of_the_attacker_does_not_reset_the_count_for_another_account(
    settings: object,
) -> None:
    """Failures for a victim's name, interleaved with log-ins to the attacker's own account from
    the same client, still lock the victim's name."""
    signup("victim")
    signup("mallory")
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        log_in(attacker, "victim", "guess")
        log_in(attacker, "mallory", STRONG_PASSWORD)
        attacker.logout()
    assert log_in(attacker, "victim", "guess").status_code == 429
    assert log_in(Client(REMOTE_ADDR="203.0.113.9"), "victim", STRONG_PASSWORD).status_code == 429


def test_successful_log_ins_count_as_no_failure(settings: object) -> None:
    signup("alice")
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert log_in(client, "alice", STRONG_PASSWORD).status_code == 302
        client.logout()
    assert log_in(client, "alice", "wrong-password").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_guesses_at_the_same_moment_get_no_more_password_checks_than_the_limit(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each guess counts before its password is checked: even when every guess has arrived
    before any check is done, only LOGIN_FAILURE_LIMIT of them get one."""
    signup("alice")
    guesses = settings.LOGIN_FAILURE_LIMIT * 3
    checked: list[str] = []
    answered: list[int] = []
    everyone_in = threading.Condition()
    check_password = User.check_password

    def check_once_every_guess_is_in(user: User, raw_password: str) -> bool:
        with everyone_in:
            checked.append(raw_password)
            everyone_in.notify_all()
            everyone_in.wait_for(lambda: len(checked) + len(answered) == guesses, timeout=30)
        return check_password(user, raw_password)

    def guess(number: int) -> None:
        try:
            response = log_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), "alice", "guess")
        finally:
            connection.close()
        with everyone_in:
            answered.append(response.status_code)
            everyone_in.notify_all()

    monkeypatch.setattr(User, "check_password", check_once_every_guess_is_in)
    threads = [threading.Thread(target=guess, args=(number,)) for number in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == settings.LOGIN_FAILURE_LIMIT
    assert answered.count(429) == guesses - settings.LOGIN_FAILURE_LIMIT + 1


# Signups


def test_signups_from_one_client_are_limited_with_429_and_retry_after(
    client: Client, settings: object
) -> None:
    settings.SIGNUPS_PER_CLIENT_HOURLY = 2
    for name in ("alice", "bob"):
        body = {"username": name, "email": f"{name}@example.com"}
        assert post_json(client, "/api/signups/", body).status_code == 201
    response = post_json(client, "/api/signups/", {"username": "eve", "email": "eve@example.com"})
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 3500 < int(response["Retry-After"]) <= 3601
    assert not User.objects.filter(username="eve").exists()


def test_a_refused_signup_queues_nothing(client: Client, settings: object) -> None:
    settings.SIGNUPS_PER_CLIENT_HOURLY = 1
    post_json(client, "/api/signups/", {"username": "alice", "email": "alice@example.com"})
    queued = OrmQ.objects.count()
    response = post_json(client, "/api/signups/", {"username": "eve", "email": "eve@example.com"})
    assert response.status_code == 429
    assert OrmQ.objects.count() == queued


def test_signups_refused_as_taken_count_toward_the_limit(client: Client, settings: object) -> None:
    """Else a client could probe for taken names without limit."""
    settings.SIGNUPS_PER_CLIENT_HOURLY = 2
    alice = {"username": "alice", "email": "alice@example.com"}
    assert post_json(client, "/api/signups/", alice).status_code == 201
    assert post_json(client, "/api/signups/", alice).status_code == 409
    assert post_json(client, "/api/signups/", alice).status_code == 429


def test_signups_refused_for_a_held_name_count_toward_the_limit(
    client: Client, settings: object
) -> None:
    """With taken addresses hidden, a name held for a signup with a taken address must answer
    as a real account's does, limit included: else the answers would tell whether it was."""
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    settings.SIGNUPS_PER_CLIENT_HOURLY = 2
    signup("victim", email="victim@example.com", ip_address="192.0.2.1")
    held = {"username": "zq1", "email": "victim@example.com"}
    assert post_json(client, "/api/signups/", held).status_code == 201
    again = {"username": "zq1", "email": "fresh@example.com"}
    assert post_json(client, "/api/signups/", again).status_code == 409
    assert post_json(client, "/api/signups/", again).status_code == 429


def test_a_client_past_its_limit_is_refused_before_its_password_is_hashed(
    client: Client, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SIGNUPS_PER_CLIENT_HOURLY = 0
    hashed: list[str] = []
    monkeypatch.setattr(User, "set_password", lambda user, raw: hashed.append(raw))
    body = {"username": "eve", "email": "eve@example.com", "password": STRONG_PASSWORD}
    assert post_json(client, "/api/signups/", body).status_code == 429
    assert hashed == []


def test_the_signup_form_says_when_a_client_signed_up_too_often(
    client: Client, settings: object
) -> None:
    settings.SIGNUPS_PER_CLIENT_HOURLY = 0
    response = client.post(
        "/signup/",
        {
            "username": "alice",
            "email": "alice@example.com",
            "password": STRONG_PASSWORD,
            "password_confirmation": STRONG_PASSWORD,
        },
    )
    assert response.status_code == 429
    assert (
        "Too many requests from your network. Try again in 60 minutes." in response.content.decode()
    )
    assert not User.objects.exists()


# Emails a person asks for


def test_a_stranger_cannot_lock_the_owner_out_of_their_own_reset(
    sync_tasks: None, settings: object, mailoutbox: list
) -> None:
    settings.EMAIL_REQUEST_COOLDOWN = 0
    signup("alice")
    mailoutbox.clear()
    stranger = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY):
        stranger.post("/password-reset/", {"email": "alice@example.com"})
    assert stranger.post("/password-reset/", {"email": "alice@example.com"}).status_code == 429
    owner = Client(REMOTE_ADDR="203.0.113.5")
    assert owner.post("/password-reset/", {"email": "alice@example.com"}).status_code == 302
    assert len(mailoutbox) == settings.EMAIL_REQUESTS_PER_ADDRESS_HOURLY + 1


def test_one_address_gets_one_email_per_cooldown_and_every_asker_the_same_answer(
    sync_tasks: None, mailoutbox: list
) -> None:
    signup("alice")
    mailoutbox.clear()
    answers = [
        post_json(Client(REMOTE_ADDR=ip), "/api/password-resets/", {"email": "alice@example.com"})
        for ip in ("198.51.100.7", "203.0.113.5")
    ]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert len(mailoutbox) == 1


# The counters


def test_a_limit_lets_through_exactly_its_count() -> None:
    limit = Limit("test", 3, timedelta(minutes=1))
    for _ in range(3):
        limit.hit("someone", message="no")
    with pytest.raises(RateLimited) as refused:
        limit.hit("someone", message="no")
    assert 0 < refused.value.retry_after <= 61
    limit.hit("someone else", message="no")


def test_a_hit_given_back_counts_no_more() -> None:
    limit = Limit("test", 2, timedelta(minutes=1))
    limit.take("someone").give_back()
    assert limit.take("someone").count == 1


def test_a_new_window_starts_the_count_again() -> None:
    limit = Limit("test", 1, timedelta(seconds=0))
    limit.hit("someone", message="no")
    limit.hit("someone", message="no")


@pytest.mark.django_db(transaction=True)
def test_hits_at_the_same_moment_are_each_counted() -> None:
    """One atomic statement per hit: of 12 concurrent hits on a limit of 5, exactly 5 pass."""
    limit = Limit("race", 5, timedelta(minutes=1))
    start = threading.Barrier(12)
    passed: list[bool] = []

    def hit() -> None:
        start.wait()
        try:
            limit.hit("same client", message="no")
            passed.append(True)
        except RateLimited:
            passed.append(False)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(passed) == [False] * 7 + [True] * 5


@pytest.mark.django_db(transaction=True)
def test_of_two_requests_at_the_same_moment_one_is_the_first() -> None:
    limit = Limit("cooldown", 1, timedelta(minutes=1))
    start = threading.Barrier(8)
    firsts: list[bool] = []

    def ask() -> None:
        start.wait()
        try:
            firsts.append(limit.first("alice@example.com"))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(firsts) == [False] * 7 + [True]
