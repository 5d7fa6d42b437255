"""The front door: what an attacker tries, refused (docs/security.md)."""

import os
import re
import stat
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, OperationalError, transaction
from django.test import Client, RequestFactory
from django.utils import timezone
from django_q.models import OrmQ

from accounts import signup as signup_use_case
from accounts.forms import PASSWORD_MAX_LENGTH
from accounts.http import UNKNOWN_CLIENT, client_ip
from accounts.models import User
from accounts.signup import SignupConflict
from accounts.tokens import email_verification_token, encode_uid
from operations import readiness
from tests.factories import STRONG_PASSWORD, signup
from tests.outcomes import post_json
from tests.support import manage

pytestmark = pytest.mark.django_db


# Cross-site requests to the JSON API


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_refused_with_415_and_changes_nothing(
    client: Client, content_type: str
) -> None:
    body = '{"username": "alice", "email": "alice@example.com"}'
    response = client.post("/api/signups/", body, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


def test_a_json_body_with_a_charset_is_accepted(client: Client) -> None:
    body = '{"username": "alice", "email": "alice@example.com"}'
    response = client.post("/api/signups/", body, content_type="application/json; charset=utf-8")
    assert response.status_code == 201


# Verification links are no oracle

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def test_a_wrong_verification_token_answers_the_same_for_any_account(client: Client) -> None:
    verified = signup("alice")
    User.objects.filter(pk=verified.pk).update(email_verified_at=timezone.now())
    unverified = signup("bob")
    answers = [
        client.get(f"/verify-email/{encode_uid(user)}/garbage-token/")
        for user in (verified, unverified)
    ]
    assert [answer.status_code for answer in answers] == [400, 400]
    pages = [
        CSRF_TOKEN.sub("", answer.content.decode()).replace(encode_uid(user), "UID")
        for user, answer in zip((verified, unverified), answers, strict=True)
    ]
    assert pages[0] == pages[1]


# No 5xx on odd navigation


def test_a_logged_in_person_opening_login_with_next_login_lands_on_the_account_page(
    client: Client,
) -> None:
    signup("alice")
    client.force_login(User.objects.get(username="alice"))
    response = client.get("/login/?next=/login/")
    assert response.status_code == 302
    assert response["Location"] == "/account/"


# What anonymous callers can read


def test_readyz_never_shows_the_text_of_an_error(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise OperationalError('connection to server at "db.internal" (10.1.2.3), port 5432 failed')

    monkeypatch.setitem(readiness.CHECKS, "database", unreachable)
    response = admin_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "detail": "failed (the error is in the logs)",
    }
    assert "10.1.2.3" not in response.content.decode()


# The client's address


def request_from(peer: str, forwarded_for: str | None = None) -> object:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return RequestFactory().get("/", REMOTE_ADDR=peer, **headers)


def test_the_forwarded_for_header_is_ignored_without_trusted_proxies(settings: object) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("10.0.0.9", "203.0.113.7")) == "10.0.0.9"


def test_behind_one_trusted_proxy_the_client_is_the_address_it_saw(settings: object) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    forged_then_real = "198.51.100.1, 203.0.113.7"
    assert client_ip(request_from("10.0.0.9", forged_then_real)) == "203.0.113.7"


def test_a_forwarded_for_header_shorter_than_the_proxy_chain_is_not_trusted(
    settings: object,
) -> None:
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request_from("10.0.0.9", "203.0.113.7")) == "10.0.0.9"


def test_a_forwarded_for_entry_that_is_not_an_address_is_not_trusted(settings: object) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request_from("10.0.0.9", "<script>")) == "10.0.0.9"


# The development key


def test_a_checkout_without_secret_key_uses_a_key_of_its_own(tmp_path: Path) -> None:
    env = {**os.environ, "DEBUG": "True", "PORTAL_VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first, second = (manage("shell", "-c", code, env=env) for _ in range(2))
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50
    assert second.stdout.strip().splitlines()[-1] == key
    key_file = tmp_path / "secret-key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = manage("shell", "-c", code, env={**env, "PORTAL_VAR_DIR": str(other)})
    assert elsewhere.stdout.strip().splitlines()[-1] != key


# One mailbox, one account


@pytest.mark.parametrize(
    "second",
    [
        "victim@\uff45xample.org",  # a fullwidth e, which IDNA folds
        "VICTIM@EXAMPLE.ORG",
    ],
)
def test_one_mailbox_has_one_account_whatever_form_its_address_is_written_in(
    second: str,
) -> None:
    signup("victim", email="victim@example.org")
    with pytest.raises(SignupConflict):
        signup("another", email=second)
    assert User.objects.count() == 1


def test_an_address_is_stored_in_its_canonical_form() -> None:
    user = signup("alice", email="Alice@\uff25xample.ORG")
    assert user.email == "Alice@example.org"


@pytest.mark.parametrize(
    "address",
    [
        "bob@exa\u200bmple.com",  # zero-width space, which IDNA would drop
        "bob@exa\u00admple.com",  # soft hyphen, likewise
        "bob@exa\u2028mple.com",  # line separator
        "bob@exa\u202emple.com",  # right-to-left override
        '"=?utf-8?q?victim?="@example.org',  # a quoted local part holding an encoded word
        "=?utf-8?q?bob=0ABcc:_x@y.z?=@example.org",  # an encoded word that decodes to a line break
        "\u00e9lise@example.org",  # a local part that needs SMTPUTF8
    ],
)
def test_an_address_that_cannot_be_sent_to_safely_is_refused_with_422(
    client: Client, address: str
) -> None:
    response = client.post(
        "/api/signups/",
        {"username": "bob", "email": address},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["field"] == "email"
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


# Usernames


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\u00c9mile", "\u00e9mile"),
        ("\u00c4RGER", "\u00e4rger"),
        ("\u0410\u0414\u041c\u0418\u041d", "\u0430\u0434\u043c\u0438\u043d"),
    ],
    ids=["french", "german", "cyrillic"],
)
def test_usernames_are_unique_regardless_of_letter_case_in_every_script(
    first: str, second: str
) -> None:
    signup(first, email="first@example.com")
    with pytest.raises(SignupConflict):
        signup(second, email="second@example.com")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "twin",
    ["\u0430\u0441\u0435", "\u0410\u0421\u0415", "\u0430\u0441\u04351"],
    ids=["cyrillic", "cyrillic-capitals", "with-a-digit"],
)
def test_a_name_in_another_script_passing_for_a_latin_name_taken_is_refused(twin: str) -> None:
    signup("ace1" if twin.endswith("1") else "ace", email="first@example.com")
    with pytest.raises(SignupConflict):
        signup(twin, email="second@example.com")
    assert User.objects.count() == 1


def test_a_name_in_another_script_with_no_latin_twin_taken_is_welcome() -> None:
    signup("ace", email="first@example.com")
    signup("\u0430\u0441\u0435\u0442", email="second@example.com")  # one letter has no twin
    signup("\u0441\u043e\u0440", email="third@example.com")  # "cop": not taken
    assert User.objects.count() == 3


def test_the_database_refuses_a_username_differing_only_by_case_in_another_script() -> None:
    User.objects.create(username="\u00c9mile", email="first@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="\u00e9mile", email="second@example.com")


def test_log_in_finds_a_username_in_any_letter_case_of_its_script(client: Client) -> None:
    signup("\u00c9mile", email="emile@example.com")
    response = client.post("/login/", {"username": "\u00e9MILE", "password": STRONG_PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "username",
    [
        "\u0430dmin",  # Cyrillic a
        "supp\u0585rt",  # Armenian o
        "\u13daupport",  # Cherokee S
        "staff\u0661",  # Arabic-Indic one, which passes for a 1 or an l
    ],
)
def test_a_username_with_a_character_passing_for_a_latin_one_is_refused(
    client: Client, username: str
) -> None:
    response = client.post(
        "/api/signups/",
        {"username": username, "email": "mallory@example.com"},
        content_type="application/json",
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("username", "confusable")
    assert "alphabets" in error["message"]


@pytest.mark.parametrize(
    "domain",
    ["ex\u0430mple.com", "g\u0585\u0585gle.com"],  # a Cyrillic a, Armenian o's
)
def test_an_address_whose_domain_mixes_look_alike_scripts_is_refused(
    client: Client, domain: str
) -> None:
    response = post_json(client, "/api/signups/", {"username": "bob", "email": f"bob@{domain}"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("email", "confusable")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "domain",
    [
        "m\u00fcnchen.de",
        "\u65e5\u672c\u8a9e\u30c9\u30e1\u30a4\u30f3.jp",  # Han and Katakana, as Japanese is written
        "shop-\u6771\u4eac.jp",  # Latin and Han
    ],
)
def test_an_address_on_a_domain_written_as_its_language_is_welcome(
    client: Client, domain: str
) -> None:
    response = post_json(client, "/api/signups/", {"username": "bob", "email": f"bob@{domain}"})
    assert response.status_code == 201
    assert User.objects.get().email == f"bob@{domain}"


@pytest.mark.parametrize(
    "name",
    [
        "\u5c71\u7530\u305f\u308d\u3046",  # Han and Hiragana, as Japanese is written
        "kim\ubbfc\uc218",  # Latin and Hangul
        "kim\ubbfc\uc2181",  # and a digit
        "user_\u7528\u62371",  # Latin, Han and a digit
        "lucy_\u30eb\u30fc\u30b7\u30fc",  # Latin, Katakana and the long-vowel mark
        "ali_\u0639\u0644\u064a1",  # Latin, Arabic and a digit
        "user\uff11",  # a fullwidth 1, which the username's key folds to 1
    ],
)
def test_a_username_mixing_scripts_as_languages_do_is_welcome(client: Client, name: str) -> None:
    response = post_json(client, "/api/signups/", {"username": name, "email": "t@example.com"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("username", "shown"),
    [
        ("\u3164", "U+1160"),  # a Hangul filler: a name that shows as nothing
        ("Zo\u00eb\u200bdesk", "U+200B"),  # a zero-width space in a name that looks valid
        ("bob\u2067", "U+2067"),  # a direction isolate
    ],
)
def test_a_username_with_an_invisible_character_is_refused_naming_it(
    client: Client, username: str, shown: str
) -> None:
    response = post_json(client, "/api/signups/", {"username": username, "email": "i@example.com"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("username", "invisible")
    assert f"invisible character ({shown})" in error["message"]
    assert not User.objects.exists()


def test_a_username_in_one_other_script_is_welcome() -> None:
    assert signup("\u0430\u0434\u043c\u0438\u043d", email="admin@example.com").pk


# Whether a signup tells that an address has an account


def test_a_taken_address_is_answered_409_by_default(client: Client) -> None:
    signup("alice")
    body = {"username": "mallory", "email": "alice@example.com"}
    response = client.post("/api/signups/", body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (409, "email_taken")


def test_with_taken_addresses_hidden_a_signup_answers_the_same_and_the_owner_is_told(
    client: Client, settings: object, sync_tasks: None, mailoutbox: list
) -> None:
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("alice")
    mailoutbox.clear()
    taken = {"username": "mallory", "email": "ALICE@example.com"}
    free = {"username": "bob", "email": "bob@example.com"}
    answers = [
        client.post("/api/signups/", body, content_type="application/json")
        for body in (taken, free)
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == {"message": "Account created", "username": "mallory"}
    assert not User.objects.filter(username="mallory").exists()
    [notice] = [message for message in mailoutbox if message.to == ["alice@example.com"]]
    assert notice.subject == "Someone tried to sign up with your email address"
    assert "no second account was created" in notice.body


def test_with_taken_addresses_hidden_a_taken_username_is_still_409(
    client: Client, settings: object
) -> None:
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("alice")
    body = {"username": "Alice", "email": "other@example.com"}
    response = client.post("/api/signups/", body, content_type="application/json")
    assert response.status_code == 409


def test_with_taken_addresses_hidden_the_username_of_such_a_signup_is_taken_afterwards(
    client: Client, settings: object
) -> None:
    """Otherwise signing up again with the same username would tell: a real account's username
    is taken, a hidden conflict's would not be."""
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("alice")

    def sign_up_twice(username: str, first_email: str) -> list[int]:
        return [
            client.post(
                "/api/signups/",
                {"username": username, "email": email},
                content_type="application/json",
            ).status_code
            for email in (first_email, f"{username}-again@example.com")
        ]

    assert sign_up_twice("probe", "alice@example.com") == sign_up_twice(
        "control", "control@example.com"
    )


def test_a_chunked_body_that_is_not_json_is_refused_too(client: Client) -> None:
    body = '{"username": "alice", "email": "alice@example.com"}'
    response = client.post(
        "/api/signups/", body, content_type="text/plain", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 415


def test_a_json_body_sent_in_chunks_is_asked_for_with_its_length(client: Client) -> None:
    """Under WSGI Django reads no more of a body than its Content-Length: a chunked body, which
    has none, would read as empty and be answered as missing fields."""
    body = '{"username": "alice", "email": "alice@example.com"}'
    response = client.post(
        "/api/signups/",
        body,
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert not User.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_a_content_length_that_is_no_number_is_refused_with_400(
    client: Client, content_type: str
) -> None:
    response = client.post("/api/signups/", "", content_type=content_type, CONTENT_LENGTH="abc")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_content_length"
    assert not User.objects.exists()


@pytest.mark.parametrize("address", ["bob@localhost", "=?utf-8?q?x?=@example.com"])
@pytest.mark.parametrize("path", ["/password-reset/", "/verify-email/resend/"])
def test_the_email_forms_refuse_what_the_portal_cannot_send_to_with_a_clear_error(
    client: Client, path: str, address: str
) -> None:
    response = client.post(path, {"email": address})
    assert response.status_code == 400
    assert 'id="id_email_errors"' in response.content.decode()


def test_a_username_too_long_once_folded_is_refused_with_422(client: Client) -> None:
    body = {"username": "\u00df" * 150, "email": "long@example.com"}  # ß folds to ss
    response = client.post("/api/signups/", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "username"
    assert not User.objects.exists()


def test_a_race_for_an_address_is_reported_on_the_email_field_whatever_the_address_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL's error names the values too: an address containing "username" must not turn
    an email conflict into a username conflict."""
    signup("alice", email="username@example.com")
    monkeypatch.setattr(signup_use_case, "reject_taken", lambda user: None)
    with pytest.raises(SignupConflict) as conflict:
        signup("bob", email="username@example.com")
    assert conflict.value.field == "email"


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8000@evil.example"])
def test_a_request_for_another_host_gets_our_400_page_with_the_policy(
    client: Client, host: str
) -> None:
    response = client.get("/", HTTP_HOST=host)
    assert response.status_code == 400
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "<!doctype html>" in response.content.decode().lower()


def test_a_request_without_an_address_is_counted_as_the_unknown_client(settings: object) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("")) == UNKNOWN_CLIENT


def test_a_forwarded_address_the_proxy_wrote_with_a_port_is_read_without_it(
    settings: object,
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request_from("10.0.0.9", "203.0.113.7:5555")) == "203.0.113.7"
    assert client_ip(request_from("10.0.0.9", "[2001:db8::1]:5555")) == "2001:db8::1"
    assert client_ip(request_from("10.0.0.9", "2001:db8::1")) == "2001:db8::1"


def test_behind_a_proxy_that_sends_no_address_the_unknown_client_is_limited(
    client: Client, settings: object
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNUPS_PER_CLIENT_HOURLY = 1
    answers = [
        post_json(
            client, "/api/signups/", {"username": n, "email": f"{n}@example.com"}, REMOTE_ADDR=""
        ).status_code
        for n in ("alice", "bob")
    ]
    assert answers == [201, 429]


def test_ipv6_clients_are_limited_by_their_64_network(client: Client, settings: object) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNUPS_PER_CLIENT_HOURLY = 1
    answers = [
        post_json(
            client,
            "/api/signups/",
            {"username": n, "email": f"{n}@example.com"},
            HTTP_X_FORWARDED_FOR=f"2001:db8:1:1::{host}",
        ).status_code
        for n, host in (("alice", "1"), ("bob", "65"))
    ]
    assert answers == [201, 429]


def test_a_verification_link_holds_for_its_own_account_and_address_only() -> None:
    """Account 1 on "3bob@…" and account 13 on "bob@…" read the same when run together."""
    mallory = User(pk=1, email="3bob@example.com")
    bob = User(pk=13, email="bob@example.com")
    assert not email_verification_token.check_token(
        bob, email_verification_token.make_token(mallory)
    )


def test_a_file_sent_to_a_form_is_refused_before_it_is_read(client: Client) -> None:
    """Django counts a form's fields against DATA_UPLOAD_MAX_MEMORY_SIZE, not its files."""
    upload = SimpleUploadedFile("big.bin", b"x" * 100_000)
    response = client.post("/login/", {"username": "alice", "file": upload})
    assert response.status_code == 413  # not 403: the CSRF check never parsed it
    assert "This form was too large to send" in response.content.decode()


def test_the_longest_password_the_api_takes_can_be_sent_by_the_signup_form(
    client: Client,
) -> None:
    """In the worst encoding: four UTF-8 bytes a character, each percent-encoded, twice."""
    password = "\U0001f600" * PASSWORD_MAX_LENGTH
    response = client.post(
        "/signup/",
        urlencode(
            {
                "username": "alice",
                "email": "alice@example.com",
                "password": password,
                "password_confirmation": password,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code != 413
    too_long = post_json(
        client,
        "/api/signups/",
        {"username": "bob", "email": "bob@example.com", "password": password + "x"},
    )
    assert too_long.status_code == 422


def test_a_form_too_large_for_the_site_says_so_and_leads_back_to_it(client: Client) -> None:
    password = "\u00e9" * 3000  # 36 KB once encoded: refused for its size before anything else
    response = client.post(
        "/signup/",
        urlencode({"username": "alice", "email": "a@example.com", "password": password}),
        content_type="application/x-www-form-urlencoded",
        HTTP_REFERER="http://testserver/signup/",
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "A password of thousands of characters is the usual cause" in page
    assert 'href="/signup/"' in page
    assert not User.objects.exists()
