"""POST /api/signups/ and the OpenAPI schema."""

import pytest
from django.http import HttpResponse
from django.test import Client
from django_q.models import OrmQ

from accounts.models import User
from tests.factories import STRONG_PASSWORD, signup
from tests.outcomes import post_json

pytestmark = pytest.mark.django_db

URL = "/api/signups/"


def signup_request(client: Client, body: object) -> HttpResponse:
    return post_json(client, URL, body)


def assert_nothing_stored() -> None:
    assert not User.objects.exists()
    assert not OrmQ.objects.exists()


def test_signup_answers_201_with_the_lesson_body(client: Client) -> None:
    response = signup_request(
        client, {"username": "alice", "email": "alice@example.com", "password": STRONG_PASSWORD}
    )
    assert response.status_code == 201
    assert response.json() == {"message": "Account created", "username": "alice"}
    assert User.objects.get(username="alice").check_password(STRONG_PASSWORD)


def test_signup_without_password_is_accepted_as_in_the_lesson(client: Client) -> None:
    response = signup_request(client, {"username": "alice", "email": "alice@example.com"})
    assert response.status_code == 201
    assert not User.objects.get(username="alice").has_usable_password()


def test_signup_queues_the_welcome_email_and_the_audit_record(client: Client) -> None:
    signup_request(client, {"username": "alice", "email": "alice@example.com"})
    assert OrmQ.objects.count() == 2


def test_the_signup_request_does_not_send_email_itself(client: Client, mailoutbox: list) -> None:
    response = signup_request(client, {"username": "alice", "email": "alice@example.com"})
    assert response.status_code == 201
    assert mailoutbox == []


def test_taken_username_answers_409_with_code_and_field(client: Client) -> None:
    signup("alice")
    response = signup_request(client, {"username": "Alice", "email": "new@example.com"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "username_taken"
    assert body["field"] == "username"
    assert User.objects.count() == 1


def test_taken_email_answers_409_with_code_and_field(client: Client) -> None:
    signup("alice", email="alice@example.com")
    response = signup_request(client, {"username": "alice2", "email": "ALICE@example.com"})
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert response.json()["field"] == "email"


def test_a_taken_username_and_address_are_both_told_in_one_answer(client: Client) -> None:
    signup("alice", email="alice@example.com")
    response = signup_request(client, {"username": "Alice", "email": "ALICE@example.com"})
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["field"]) == ("username_taken", "username")
    errors = {error["field"]: error["code"] for error in body["errors"]}
    assert errors == {"username": "username_taken", "email": "email_taken"}


def test_a_taken_username_is_told_with_the_other_fields_errors(client: Client) -> None:
    """Not only once the rest is fixed."""
    signup("alice")
    response = signup_request(client, {"username": "ALICE", "email": "nope"})
    assert response.status_code == 422
    errors = {error["field"]: error["code"] for error in response.json()["errors"]}
    assert errors == {"username": "username_taken", "email": "invalid"}


def test_invalid_signups_that_could_tell_a_taken_name_count_toward_the_limit(
    client: Client, settings: object
) -> None:
    settings.SIGNUPS_PER_CLIENT_HOURLY = 2
    signup("alice")  # the first of the two, from the same client
    probe = {"username": "alice", "email": "nope"}
    assert signup_request(client, probe).status_code == 422
    assert signup_request(client, probe).status_code == 429


def test_invalid_fields_answer_422_with_each_field(client: Client) -> None:
    response = signup_request(client, {"username": "no spaces", "email": "nope", "password": "123"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert {error["field"] for error in body["errors"]} == {"username", "email", "password"}
    assert all(error["message"] for error in body["errors"])
    assert_nothing_stored()


def test_missing_field_answers_422_naming_it(client: Client) -> None:
    response = signup_request(client, {"username": "alice"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "email", "code": "required", "message": "This field is required."}
    ]
    assert_nothing_stored()


def test_wrong_type_answers_422(client: Client) -> None:
    response = signup_request(client, {"username": 42, "email": ["alice@example.com"]})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"username", "email"}
    assert_nothing_stored()


def test_overlong_field_answers_422(client: Client) -> None:
    response = signup_request(client, {"username": "a" * 151, "email": "alice@example.com"})
    assert response.status_code == 422
    assert response.json()["field"] == "username"
    assert_nothing_stored()


def test_newline_in_email_answers_422(client: Client) -> None:
    body = {"username": "alice", "email": "alice@example.com\r\nBcc: victim@example.com"}
    response = signup_request(client, body)
    assert response.status_code == 422
    assert response.json()["field"] == "email"
    assert_nothing_stored()


def test_malformed_json_answers_400(client: Client) -> None:
    response = client.post(URL, '{"username": "alice",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert_nothing_stored()


def test_body_that_is_not_an_object_answers_422(client: Client) -> None:
    response = signup_request(client, ["alice", "alice@example.com"])
    assert response.status_code == 422
    assert_nothing_stored()


def test_oversized_body_answers_413(client: Client) -> None:
    body = {"username": "alice", "email": "alice@example.com", "padding": "x" * 100_000}
    response = signup_request(client, body)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert_nothing_stored()


def test_openapi_schema_documents_the_signup_answers(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    answers = schema["paths"]["/api/signups/"]["post"]["responses"]
    assert {"201", "400", "409", "413", "422", "503"} <= set(answers)


def test_interactive_docs_are_served_without_a_cdn(client: Client) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


# The examples in the API docs


def example_body(client: Client, path: str) -> dict:
    operation = client.get("/api/openapi.json").json()["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    components = client.get("/api/openapi.json").json()["components"]["schemas"]
    properties = components[schema["$ref"].rsplit("/", 1)[-1]]["properties"]
    return {name: field["examples"][0] for name, field in properties.items() if "examples" in field}


def test_the_signup_example_in_the_api_docs_creates_an_account(client: Client) -> None:
    body = example_body(client, URL)
    assert set(body) == {"username", "email", "password"}
    assert signup_request(client, body).status_code == 201


def test_each_error_example_in_the_api_docs_is_what_the_api_answers(client: Client) -> None:
    signup("alice")
    responses = client.get("/api/openapi.json").json()["paths"][URL]["post"]["responses"]
    answers = {
        "409": signup_request(
            client, {"username": "alice", "email": "other@example.com", "password": STRONG_PASSWORD}
        ),
        "422": signup_request(
            client, {"username": "bob", "email": "bob", "password": STRONG_PASSWORD}
        ),
        "400": client.post(URL, "{not json", content_type="application/json"),
    }
    for status, answer in answers.items():
        assert answer.status_code == int(status)
        example = responses[status]["content"]["application/json"]["example"]
        assert answer.json() == example
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            assert response["content"]["application/json"]["example"]["code"] != "string"


def test_an_api_address_without_its_trailing_slash_is_answered_in_json_naming_the_right_one(
    client: Client, settings: object
) -> None:
    settings.DEBUG = True  # where Django would raise about APPEND_SLASH for a POST
    response = post_json(client, "/api/signups", {"username": "alice", "email": "a@example.com"})
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "There is nothing at this address. Did you mean /api/signups/?",
        "field": None,
        "errors": [],
    }
    assert_nothing_stored()


def test_an_unknown_api_address_is_answered_in_json(client: Client) -> None:
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_method_an_api_address_does_not_accept_is_answered_in_json_naming_the_one_it_does(
    client: Client,
) -> None:
    response = client.put(URL, {"username": "alice"}, content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"
    assert response.json()["message"] == "This address does not accept PUT. It accepts POST."
    assert_nothing_stored()


@pytest.mark.parametrize("body", [[], None, "alice", [{"username": "alice"}]])
def test_a_body_that_is_not_a_json_object_is_told_so(client: Client, body: object) -> None:
    response = signup_request(client, body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body", "code": "model_attributes_type", "message": "Send a JSON object."}
    ]
    assert_nothing_stored()


def test_an_api_address_without_its_slash_from_a_host_not_allowed_is_refused_as_any_other(
    client: Client,
) -> None:
    response = post_json(client, "/api/signups", {}, HTTP_HOST="evil.example")
    assert response.status_code == 400


def test_a_host_not_allowed_is_answered_in_the_apis_error_shape(client: Client) -> None:
    response = post_json(client, "/api/signups/", {}, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert_nothing_stored()


def test_an_empty_password_is_told_to_be_left_out_or_given(client: Client) -> None:
    """The password is optional: "" is neither one nor none."""
    response = signup_request(
        client, {"username": "kim", "email": "kim@example.com", "password": ""}
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("password", "string_too_short")
    assert error["message"] == "Leave this field out, or give it a value."
    assert_nothing_stored()


@pytest.mark.parametrize("typed", [" ivan ", "\u00a0ivan\u3000"])  # no-break, ideographic
def test_spaces_around_a_username_are_dropped_as_the_form_drops_them(
    client: Client, typed: str
) -> None:
    response = signup_request(client, {"username": typed, "email": "ivan@example.com"})
    assert response.status_code == 201
    assert response.json()["username"] == "ivan"
