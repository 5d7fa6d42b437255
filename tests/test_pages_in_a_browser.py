"""Every page in every state, as a person sees it: in Chromium (Debian's, driven by Playwright)
on a desktop and on a phone, each saved as a screenshot under var/screenshots/pages/ and checked
by axe-core. Any accessibility violation, any page wider than the screen, any failed request
(a missing icon, style or script) fails the state's test."""

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone, translation
from django_q.models import OrmQ

from accounts.emails import messages
from accounts.models import EmailDelivery, User, WebhookAttempt, WebhookDelivery
from accounts.tasks import record_signup
from accounts.tokens import email_verification_token, encode_uid
from taskqueue.models import QueueSample
from tests.conftest import PROJECT_DIR
from tests.factories import STRONG_PASSWORD, failed_welcome_email, signup, waiting_to_retry

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = PROJECT_DIR / "var" / "screenshots" / "pages"
DEVICES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Chromium is not installed (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the tests and of
    # pytest-django's fixtures are plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class Visit:
    """One browser context on the live server: its failed requests are collected."""

    def __init__(self, browser: object, url: str, language: str, color_scheme: str) -> None:
        self.url = url
        self.context = browser.new_context(
            locale=language, color_scheme=color_scheme, viewport=DEVICES["desktop"]
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.failed: list[str] = []
        self.page.on(
            "response",
            lambda response: (
                self.failed.append(f"{response.status} {response.url}")
                if response.status >= 400 and response.request.resource_type != "document"
                else None
            ),
        )
        self.page.on(
            "requestfailed",
            lambda request: (
                # Not a failure: a request cut short when the test moved on to the next page.
                None
                if request.failure == "net::ERR_ABORTED"
                else self.failed.append(f"{request.failure} {request.url}")
            ),
        )

    def go(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")

    def log_in(self, user: User) -> None:
        client = Client()
        client.force_login(user)
        session = client.cookies["sessionid"].value
        self.context.add_cookies([{"name": "sessionid", "value": session, "url": self.url}])

    def fill(self, fields: dict[str, str]) -> None:
        for label, value in fields.items():
            self.page.get_by_label(label, exact=True).fill(value)

    def press(self, button: str) -> None:
        self.page.get_by_role("button", name=button).click()
        self.page.wait_for_load_state("load")


def signup_form_filled(visit: Visit, **fields: str) -> None:
    visit.go("/signup/")
    visit.fill(
        {
            "Username": fields.get("username", "alice"),
            "Email": fields.get("email", "alice@example.com"),
            "Password": fields.get("password", STRONG_PASSWORD),
            "Password confirmation": fields.get("confirmation", STRONG_PASSWORD),
        }
    )


def signed_up(visit: Visit) -> None:
    signup_form_filled(visit)
    visit.press("Create account")


def verification_link(user: User) -> str:
    return f"/verify-email/{encode_uid(user)}/{email_verification_token.make_token(user)}/"


def email_html(build: Callable[[User], object]) -> Callable[[Visit], None]:
    def show(visit: Visit) -> None:
        account = User.objects.first() or signup("alice")
        message = build(account)
        [(html, _)] = message.alternatives
        # On a blank page: the portal's content security policy, which refuses inline styles,
        # is no mail program's.
        visit.page.set_content(html)

    return show


def locked_out(visit: Visit) -> None:
    signup("alice")
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": "alice", "password": "wrong-password"})
    visit.go("/login/")
    visit.fill({"Username": "alice", "Password": "wrong-password"})
    visit.press("Log in")


def logged_in_at(path: str, *, verified: bool = False) -> Callable[[Visit], None]:
    def show(visit: Visit) -> None:
        account = signup("alice")
        if verified:
            visit.go(verification_link(account))
            visit.press("Confirm my address")
        visit.log_in(account)
        visit.go(path)

    return show


def staff_status_page(visit: Visit) -> None:
    """With a task failed for good, one waiting to retry, and an hour of charts with gaps."""
    an_hour_of_history()
    retrying = failed_welcome_email(1, name="welcome-email-1")
    waiting_to_retry(retrying, 2, timezone.now() + timedelta(seconds=40))
    failed_welcome_email(2, name="welcome-email-2")
    failed_webhook_delivery(signup("webhooked", email="webhooked@example.com"))
    visit.log_in(User.objects.create_superuser("admin", "admin@example.com", STRONG_PASSWORD))
    visit.go("/staff/status/")


def failed_webhook_delivery(user: User) -> None:
    delivery = WebhookDelivery.objects.create(
        event_id=uuid.uuid4(),
        event_type="account.created",
        user=user,
        url="https://hooks.example.com/signups",
        status=WebhookDelivery.Status.FAILED,
    )
    for number in (1, 2, 3):
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, status_code=502, duration_ms=40
        )


def an_hour_of_history() -> None:
    """Signups from the API and the form, done by a worker (their audit records written, their
    welcome emails sent 20 to 180 ms after them), and queue samples, in two runs of minutes with
    the worker stopped between them: nothing measured there."""
    now = timezone.now()
    for minute in [*range(50, 35, -1), *range(20, 0, -1)]:
        at = now - timedelta(minutes=minute)
        QueueSample.objects.create(taken_at=at, depth=minute % 7, oldest_age_seconds=minute % 3)
        for number, source in enumerate(["api", "web"], start=1):
            account = signup(f"user{minute}-{number}", password=None, source=source)
            joined = at - timedelta(milliseconds=(20 + minute) * number)
            User.objects.filter(pk=account.pk).update(date_joined=joined)
            record_signup(account.pk, source, "127.0.0.1", joined.isoformat())
            EmailDelivery.objects.create(
                user=account, kind=EmailDelivery.Kind.WELCOME, message_id=f"<{account.pk}@test>"
            )
            account.email_deliveries.update(sent_at=at)
    OrmQ.objects.all().delete()


def reset_link_opened(visit: Visit) -> None:
    account = signup("alice")
    visit.go(
        f"/password-reset/{encode_uid(account)}/{default_token_generator.make_token(account)}/"
    )


def reset_with_errors(visit: Visit) -> None:
    reset_link_opened(visit)
    visit.fill({"New password": "short", "New password confirmation": "other"})
    visit.press("Save password")


STATES: dict[str, Callable[[Visit], None]] = {
    "home": lambda visit: visit.go("/"),
    "home-logged-in": logged_in_at("/"),
    "signup-empty": lambda visit: visit.go("/signup/"),
    "signup-errors": lambda visit: (
        signup_form_filled(visit, username="not valid", email="nope", confirmation="other"),
        visit.press("Create account"),
    ),
    "signup-too-large": lambda visit: (
        signup_form_filled(visit, password="\u00e9" * 3000, confirmation="\u00e9" * 3000),
        visit.press("Create account"),
    ),
    "signup-name-taken": lambda visit: (
        signup("alice", email="first@example.com"),
        signed_up(visit),
    ),
    "signup-logged-in": logged_in_at("/signup/"),
    "signup-done": signed_up,
    "signup-done-correction-refused": lambda visit: (
        signup("bob"),
        signed_up(visit),
        visit.page.get_by_text("Wrong address? Correct it").click(),
        visit.fill({"Email": "bob@example.com", "Your password": STRONG_PASSWORD}),
        visit.press("Use this address"),
    ),
    "signup-done-corrected": lambda visit: (
        signed_up(visit),
        visit.page.get_by_text("Wrong address? Correct it").click(),
        visit.fill({"Email": "alice@example.org", "Your password": STRONG_PASSWORD}),
        visit.press("Use this address"),
    ),
    "login-empty": lambda visit: visit.go("/login/"),
    "login-wrong-password": lambda visit: (
        signup("alice"),
        visit.go("/login/"),
        visit.fill({"Username": "alice", "Password": "wrong-password"}),
        visit.press("Log in"),
    ),
    "login-locked-out": locked_out,
    "logout-confirm": logged_in_at("/logout/"),
    "logged-out": lambda visit: (
        logged_in_at("/logout/")(visit),
        visit.page.locator("main").get_by_role("button", name="Log out").click(),
        visit.page.wait_for_load_state("load"),
    ),
    "account-unverified": logged_in_at("/account/"),
    "account-verified": logged_in_at("/account/", verified=True),
    "resend-empty": lambda visit: visit.go("/verify-email/resend/"),
    "resend-error": lambda visit: (
        visit.go("/verify-email/resend/"),
        visit.fill({"Email": "not an address"}),
        visit.press("Send a new link"),
    ),
    "resend-logged-in": logged_in_at("/verify-email/resend/"),
    "verification-sent": lambda visit: visit.go("/verify-email/sent/"),
    "verify-email-confirm": lambda visit: visit.go(verification_link(signup("alice"))),
    "verify-email-verified": lambda visit: (
        visit.go(verification_link(signup("alice"))),
        visit.press("Confirm my address"),
    ),
    "verify-email-verified-no-password": lambda visit: (
        visit.go(verification_link(signup("alice", password=None))),
        visit.press("Confirm my address"),
    ),
    "verify-email-already-verified": lambda visit: (
        visit.go(link := verification_link(signup("alice"))),
        visit.press("Confirm my address"),
        visit.go(link),
    ),
    "verify-email-invalid": lambda visit: visit.go("/verify-email/MQ/not-a-token/"),
    "password-reset-empty": lambda visit: visit.go("/password-reset/"),
    "password-reset-error": lambda visit: (
        visit.go("/password-reset/"),
        visit.fill({"Email": "nope"}),
        visit.press("Send me a link"),
    ),
    "password-reset-sent": lambda visit: visit.go("/password-reset/sent/"),
    "password-reset-choose": reset_link_opened,
    "password-reset-choose-errors": reset_with_errors,
    "password-reset-link-used": lambda visit: visit.go("/password-reset/MQ/set-password/"),
    "password-reset-complete": lambda visit: visit.go("/password-reset/complete/"),
    "not-found": lambda visit: visit.go("/no-such-page/"),
    "staff-status": staff_status_page,
    "email-welcome": email_html(messages.welcome_email),
    "email-verification": email_html(lambda user: messages.verification_email(user, "r1")),
    "email-password-reset": email_html(lambda user: messages.password_reset_email(user, "r2")),
    "email-signup-attempt": email_html(lambda user: messages.signup_attempt_email(user, "r3")),
}
IN_FRENCH = [
    "signup-errors",
    "signup-done",
    "login-wrong-password",
    "email-welcome",
    "staff-status",
]
IN_THE_DARK = ["signup-errors", "signup-done", "account-verified", "staff-status"]


# An email is no web page: the rules for pages' landmarks and headings do not apply to it.
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def look_at(visit: Visit, name: str) -> None:
    """Both widths: a screenshot each, nothing wider than the screen, no axe violation."""
    options: dict = {"resultTypes": ["violations"]}
    if name.startswith("email-"):
        options["runOnly"] = WCAG
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for device, viewport in DEVICES.items():
        visit.page.set_viewport_size(viewport)
        visit.page.screenshot(path=str(SCREENSHOTS / f"{name}-{device}.png"), full_page=True)
        assert visit.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} is wider than a {device}"
        )
        violations = Axe().run(visit.page, options=options).response["violations"]
        assert violations == [], [
            (violation["id"], [node["target"] for node in violation["nodes"]])
            for violation in violations
        ]
    assert visit.failed == []
    visit.context.close()


@pytest.fixture
def visit(browser: object, live_server: object) -> Iterator[Callable[..., Visit]]:
    yield lambda language="en", color_scheme="light": Visit(
        browser, live_server.url, language, color_scheme
    )


@pytest.mark.parametrize("state", STATES)
def test_each_page_state_reads_well_on_a_desktop_and_a_phone(
    visit: Callable[..., Visit], state: str
) -> None:
    shown = visit()
    STATES[state](shown)
    look_at(shown, state)


@pytest.mark.parametrize("state", IN_FRENCH)
def test_each_page_state_reads_well_in_french(visit: Callable[..., Visit], state: str) -> None:
    shown = visit(language="fr-FR")
    with_french_labels = {
        "Username": re.compile("Nom d.utilisateur"),
        "Email": "E-mail",
        "Password": "Mot de passe",
        "Password confirmation": "Confirmation du mot de passe",
        "Create account": "Créer le compte",
        "Log in": "Se connecter",
    }
    shown.fill = lambda fields: Visit.fill(
        shown, {with_french_labels[label]: value for label, value in fields.items()}
    )
    shown.press = lambda button: Visit.press(shown, with_french_labels[button])
    with translation.override("fr"):  # accounts made here are French-speaking, like the visitor
        STATES[state](shown)
    assert re.search(r'lang="fr"', shown.page.content())
    look_at(shown, f"{state}-fr")


@pytest.mark.parametrize("state", IN_THE_DARK)
def test_each_page_state_reads_well_in_the_dark(visit: Callable[..., Visit], state: str) -> None:
    shown = visit(color_scheme="dark")
    STATES[state](shown)
    look_at(shown, f"{state}-dark")
