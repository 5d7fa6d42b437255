"""sign_up(): the one signup use case behind the form and the API."""

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django_q.models import OrmQ

from accounts import signup as signup_use_case
from accounts.models import User
from accounts.signup import SignupConflict
from tests.factories import STRONG_PASSWORD, signup
from tests.support import query_plan

pytestmark = pytest.mark.django_db


def test_signup_creates_an_account_with_a_hashed_password() -> None:
    user = signup("alice")
    assert User.objects.get(username="alice") == user
    assert user.password.startswith("argon2$")
    assert user.check_password(STRONG_PASSWORD)


def test_signup_without_password_creates_an_account_with_an_unusable_password() -> None:
    user = signup("bob", password=None)
    assert not user.has_usable_password()


def test_signup_lowercases_the_email_domain() -> None:
    user = signup("carol", email="Carol@Example.COM")
    assert user.email == "Carol@example.com"


def test_signup_normalises_the_username_to_nfkc() -> None:
    user = signup("\uff41lice", email="alice@example.com")  # fullwidth "a"
    assert user.username == "alice"


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
def test_username_is_taken_regardless_of_letter_case(taken: str) -> None:
    signup("alice")
    with pytest.raises(SignupConflict) as conflict:
        signup(taken, email="other@example.com")
    assert conflict.value.field == "username"
    assert conflict.value.code == "username_taken"


def test_username_differing_only_by_unicode_normalisation_is_taken() -> None:
    signup("alice")
    with pytest.raises(SignupConflict):
        signup("\uff41lice", email="other@example.com")


def test_email_is_taken_regardless_of_letter_case() -> None:
    signup("alice", email="alice@example.com")
    with pytest.raises(SignupConflict) as conflict:
        signup("alice2", email="ALICE@EXAMPLE.COM")
    assert conflict.value.field == "email"


def test_a_race_past_the_check_is_caught_by_the_database_as_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signup("alice")
    monkeypatch.setattr(signup_use_case, "reject_taken", lambda user: None)
    with pytest.raises(SignupConflict) as conflict:
        signup("ALICE", email="other@example.com")
    assert conflict.value.field == "username"


def test_database_refuses_case_insensitive_duplicate_usernames() -> None:
    User.objects.create(username="alice", email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="Alice", email="b@example.com")


def test_database_refuses_case_insensitive_duplicate_emails() -> None:
    User.objects.create(username="alice", email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="bob", email="A@EXAMPLE.com")


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        (lambda: User.objects.with_username("Alice"), "username_key"),
        (lambda: User.objects.with_email("Alice@Example.com"), "accounts_user_email_ci_unique"),
    ],
    ids=["username", "email"],
)
def test_case_insensitive_lookups_are_served_by_the_unique_index(
    lookup: Callable[[], QuerySet[User]], index: str
) -> None:
    """The duplicate check runs on every signup: a table scan would grow with the accounts."""
    signup("alice", email="alice@example.com")
    assert list(lookup()) == [User.objects.get(username="alice")]
    assert index in query_plan(lookup())


def test_database_refuses_an_empty_email() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="alice", email="")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "with space"),
        ("username", "semi;colon"),
        ("username", ""),
        ("username", "x" * 151),
        ("email", "not-an-email"),
        ("email", "Alice <alice@example.com>"),
        ("email", "alice@example.com, bob@example.com"),
        ("email", "alice@example.com\nBcc: victim@example.com"),
        ("email", ""),
        ("email", "a" * 250 + "@example.com"),
        ("password", "short"),
        ("password", "12345678901"),
        ("password", "password123"),
        ("username", "alice\r\n"),
        ("password", "correct-horse\x00battery"),
        ("email", '"a\x01b"@example.com'),
    ],
)
def test_invalid_field_is_refused_and_nothing_is_stored(field: str, value: str) -> None:
    fields = {"username": "alice", "email": "alice@example.com", "password": STRONG_PASSWORD}
    fields[field] = value
    with pytest.raises(ValidationError) as invalid:
        signup(**fields)
    assert field in invalid.value.error_dict
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


def test_password_too_similar_to_the_username_is_refused() -> None:
    with pytest.raises(ValidationError) as invalid:
        signup("horsebattery", password="horsebattery1")
    assert invalid.value.error_dict["password"][0].code == "password_too_similar"


def test_a_signup_whose_name_and_address_are_both_taken_is_told_both_the_name_first() -> None:
    signup("alice")
    with pytest.raises(SignupConflict) as conflict:
        signup("ALICE", email="ALICE@example.com")
    assert conflict.value.fields == ("username", "email")
    assert conflict.value.code == "username_taken"


def test_with_taken_addresses_hidden_a_signup_with_both_taken_is_told_the_name_only(
    settings: object,
) -> None:
    settings.SIGNUP_REVEALS_TAKEN_EMAIL = False
    signup("alice")
    with pytest.raises(SignupConflict) as conflict:
        signup("ALICE", email="ALICE@example.com")
    assert conflict.value.fields == ("username",)
