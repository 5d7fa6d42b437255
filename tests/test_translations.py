"""One complete second language, French: chosen by Accept-Language or by the switcher, in pages,
form and API messages, and in the emails the workers send, which follow the account's language."""

import json

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from django.test import Client
from django.utils import translation

from accounts.models import User
from accounts.tasks import send_welcome_email
from tests.conftest import PROJECT_DIR
from tests.factories import signup

LOCALE = PROJECT_DIR / "locale"
FRENCH_PO = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
FRENCH_MO = LOCALE / "fr" / "LC_MESSAGES" / "django.mo"


def messages_in_the_source() -> set[str | tuple[str, ...]]:
    """What `locale/update` extracts, with the same configuration."""
    with (LOCALE / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "gettext_lazy": None, "ngettext_lazy": (1, 2)}
    extracted = extract_from_dir(PROJECT_DIR, method_map, options_map, keywords=keywords)
    return {message for _, _, message, _, _ in extracted}


def test_every_message_of_the_portal_has_a_french_translation() -> None:
    catalog = read_po(FRENCH_PO.open("rb"))
    translated = {
        message.id
        for message in catalog
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    untranslated = messages_in_the_source() - translated
    assert not untranslated, "run locale/update and translate these"


def test_the_compiled_french_catalog_is_the_one_its_source_compiles_to() -> None:
    def translations(catalog: object) -> dict:
        def text(value: object) -> object:  # a plural's forms: a tuple or a list; bytes or str
            if isinstance(value, bytes):
                return value.decode()
            return tuple(value) if isinstance(value, list | tuple) else value

        return {
            (text(message.id), text(message.context)): text(message.string)
            for message in catalog
            if message.id and not message.fuzzy
        }

    compiled = read_mo(FRENCH_MO.open("rb"))
    assert translations(compiled) == translations(read_po(FRENCH_PO.open("rb"))), (
        "run locale/update"
    )


def test_french_punctuation_is_kept_off_line_starts_by_no_break_spaces() -> None:
    """French puts a space before ? ; : ! and inside « »: a breaking one lets them begin a line."""
    catalog = read_po(FRENCH_PO.open("rb"))
    for message in catalog:
        for text in message.string if isinstance(message.string, tuple) else [message.string]:
            for broken in (" ?", " ;", " :", " !", "« ", " »"):
                assert broken not in text, f"{broken!r} in {text!r}"


def test_a_browser_asking_for_french_gets_the_signup_form_in_french(client: Client) -> None:
    page = client.get("/signup/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    html = page.content.decode()
    assert '<html lang="fr">' in html
    assert "Créer un compte" in html
    assert "Nom d’utilisateur" in html


def test_a_browser_asking_for_a_language_the_portal_lacks_gets_english(client: Client) -> None:
    html = client.get("/signup/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="en">' in html
    assert "Create an account" in html


def test_the_language_switcher_keeps_the_choice_over_the_browsers(client: Client) -> None:
    switched = client.post("/i18n/setlang/", {"language": "fr", "next": "/login/"})
    assert switched.status_code == 302
    assert switched["Location"] == "/login/"
    html = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Se connecter" in html


@pytest.mark.django_db
def test_form_errors_come_in_the_language_of_the_page(client: Client) -> None:
    answer = client.post(
        "/signup/",
        {"username": "", "email": "", "password": "", "password_confirmation": ""},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    html = answer.content.decode()
    assert "<title>Erreur\u00a0:" in html
    assert "Ce champ est obligatoire." in html
    assert "Il y a 4 problèmes" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("bob", "Une adresse e-mail doit contenir une arobase (@)."),
        ("b ob@example.com", "avant l’arobase (@)\u202f: SPACE."),
        ("bob@[192.0.2.1]", None),  # a rarer reason: the general message alone
    ],
)
def test_what_is_wrong_with_an_address_is_said_in_the_readers_language(
    client: Client, typed: str, reason: str | None
) -> None:
    answer = client.post(
        "/api/signups/",
        json.dumps({"username": "bob", "email": typed}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    [error] = answer.json()["errors"]
    assert error["message"].startswith("Saisissez une adresse e-mail valide.")
    if reason is None:
        assert error["message"] == "Saisissez une adresse e-mail valide."
    else:
        assert reason in error["message"]


@pytest.mark.django_db
def test_api_errors_come_in_the_language_the_client_asks_for(client: Client) -> None:
    signup("alice")
    answer = client.post(
        "/api/signups/",
        json.dumps({"username": "alice", "email": "other@example.com", "password": "x" * 20}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "username_taken"
    assert answer.json()["message"] == "Un compte avec ce nom d’utilisateur existe déjà."


@pytest.mark.django_db
def test_an_account_signed_up_in_french_gets_its_emails_in_french(mailoutbox: list) -> None:
    with translation.override("fr"):
        account = signup("amelie")
    assert User.objects.get(pk=account.pk).language == "fr"
    send_welcome_email(account.pk)  # as a worker runs it: in English unless told otherwise
    [message] = mailoutbox
    assert message.subject == "Bienvenue sur le Portail d’inscription, amelie"
    assert "Bonjour amelie," in message.body
    [(html, _)] = message.alternatives
    assert '<html lang="fr">' in html
    assert "Confirmer mon adresse" in html


@pytest.mark.django_db
def test_an_account_signed_up_in_english_gets_its_emails_in_english(mailoutbox: list) -> None:
    account = signup("alice")
    with translation.override("fr"):
        send_welcome_email(account.pk)
    assert mailoutbox[0].subject == "Welcome to the Signup Portal, alice"
