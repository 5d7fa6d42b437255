"""End to end in a real Chromium (Debian's, driven by Playwright) against the live server,
with a real qcluster and a real SMTP server. Screenshots of each page go to var/screenshots/.
"""

import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from accounts.models import User
from tests.conftest import PROJECT_DIR
from tests.factories import failed_welcome_email, waiting_to_retry
from tests.support import QCluster, SmtpServer, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = PROJECT_DIR / "var" / "screenshots"
PASSWORD = "correct-horse-battery-staple"
NEW_PASSWORD = "a-brand-new-passphrase-42"

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Chromium is not installed (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture
def page(live_server: object) -> Iterator[object]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test
    # itself are plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        context.close()
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def portal(
    live_server: object, smtp_server: SmtpServer, start_qcluster: Callable[..., QCluster]
) -> str:
    """The live server, with a worker whose email links point at it."""
    start_qcluster(PORTAL_BASE_URL=live_server.url)
    return live_server.url


def shoot(page: object, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def link_in_last_email(smtp_server: SmtpServer, address: str, path_prefix: str) -> str:
    """The link from the newest email to `address` that has one (two emails sent close
    together may arrive in either order)."""
    link = re.compile(rf"https?://\S+{re.escape(path_prefix)}\S+")

    def newest_link() -> str | None:
        for message in reversed(smtp_server.messages_to(address)):
            found = link.search(message.get_body(("plain",)).get_content())
            if found:
                return found.group(0)
        return None

    return wait_for(newest_link, message=f"an email to {address} with a {path_prefix} link")


def fill_signup_form(
    page: object, portal: str, username: str, confirmation: str = PASSWORD
) -> None:
    page.goto(f"{portal}/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(confirmation)


def log_in_as_admin(page: object, portal: str, *, then: str) -> None:
    """Through the admin's log-in form, as pytest-django's admin_user, landing on `then`."""
    page.goto(f"{portal}/admin/login/?next={then}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal}{then}")


def test_sign_up_verify_log_in_and_see_the_account(
    page: object, portal: str, smtp_server: SmtpServer
) -> None:
    fill_signup_form(page, portal, "alice")
    shoot(page, "01-signup-form")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{portal}/signup/done/")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    shoot(page, "02-signup-done")

    page.goto(link_in_last_email(smtp_server, "alice@example.com", "/verify-email/"))
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_role("heading", name="Email address verified")).to_be_visible()
    shoot(page, "03-email-verified")

    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, "04-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal}/account/")
    expect(page.get_by_text("alice@example.com")).to_be_visible()
    expect(page.locator(".badge--ok")).to_have_text("Verified")
    shoot(page, "05-account")
    assert User.objects.get(username="alice").is_email_verified


def test_form_errors_are_shown_next_to_the_fields(page: object, portal: str) -> None:
    fill_signup_form(page, portal, "not valid", confirmation="something else entirely")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#id_username_errors")).to_contain_text("Enter a valid username")
    expect(page.locator("#id_password_confirmation_errors")).to_have_text(
        "The two passwords do not match."
    )
    expect(page.get_by_label("Email")).to_have_value("not valid@example.com")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    shoot(page, "06-signup-errors")


def test_the_signup_form_works_with_the_keyboard_alone(page: object, portal: str) -> None:
    page.goto(f"{portal}/signup/")
    page.get_by_label("Username").focus()
    page.keyboard.type("keyboarder")
    page.keyboard.press("Tab")
    page.keyboard.type("keyboarder@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")  # the password's "Show" button
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/signup/done/")


def test_forgot_password_end_to_end(page: object, portal: str, smtp_server: SmtpServer) -> None:
    fill_signup_form(page, portal, "bob")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{portal}/signup/done/")

    page.goto(f"{portal}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("bob@example.com")
    shoot(page, "07-forgot-password")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shoot(page, "08-reset-sent")

    wait_for(lambda: len(smtp_server.messages_to("bob@example.com")) == 2, message="reset email")
    page.goto(link_in_last_email(smtp_server, "bob@example.com", "/password-reset/"))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    shoot(page, "09-choose-password")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("heading", name="Password saved")).to_be_visible()

    page.goto(f"{portal}/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal}/account/")
    shoot(page, "10-account-after-reset")


WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_no_page_breaks_its_content_security_policy(
    page: object, live_server: object, admin_user: User
) -> None:
    page.add_init_script(WATCH_CSP)
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in_as_admin(page, live_server.url, then="/admin/")
    pages = {
        "home": "/",
        "signup": "/signup/",
        "login": "/login/",
        "account": "/account/",
        "password-reset": "/password-reset/",
        "resend-verification": "/verify-email/resend/",
        "api-docs": "/api/docs",
        "admin": "/admin/",
        "admin-failed-tasks": "/admin/django_q/failure/",
        "status": "/staff/status/",
        "not-found": "/no-such-page/",
    }
    for name, path in pages.items():
        response = page.goto(f"{live_server.url}{path}")
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
        shoot(page, f"csp-{name}")
        assert page.evaluate("window.cspViolations") == [], path
    assert refused == []


def test_the_status_page_reads_at_a_glance_on_a_desktop_and_a_phone(
    page: object, live_server: object, admin_user: User
) -> None:
    """A welcome email waiting to retry, one failed for good: named as people name them, times
    as people read them, tracebacks folded, nothing wider than the screen, no axe violation."""
    retrying = failed_welcome_email(1, name="welcome-email-1")
    retrying.result = "Traceback (most recent call last):\n  ...\nConnectionRefusedError: refused"
    retrying.attempt_count = 2
    retrying.save()
    waiting_to_retry(retrying, attempts_made=2, at=timezone.now() + timedelta(seconds=40))
    failed_welcome_email(2, name="welcome-email-2")
    log_in_as_admin(page, live_server.url, then="/staff/status/")
    for device, size in [("desktop", (1280, 800)), ("phone", (390, 844))]:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.reload()
        expect(page.get_by_text("Attempt 2 of")).to_be_visible()
        expect(page.get_by_text("ConnectionRefusedError: refused").first).to_be_visible()
        expect(page.locator("details pre").first).not_to_be_visible()  # folded
        assert "from now" in page.locator("time").first.inner_text() + page.content()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shoot(page, f"status-{device}")
        violations = Axe().run(page).response["violations"]
        assert violations == [], [violation["id"] for violation in violations]
    alice = User.objects.create_user("alice", "alice@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/accounts/user/{alice.pk}/change/")
    expect(page.get_by_text("What happened to this account")).to_be_visible()
    shoot(page, "account-story")


@pytest.fixture
def status_page(page: object, live_server: object, admin_user: User, settings: object) -> object:
    """The status page for staff, refreshing every second, one failed welcome email on it."""
    settings.STATUS_REFRESH_SECONDS = 1
    failed_welcome_email(1, name="welcome-email-1")
    log_in_as_admin(page, live_server.url, then="/staff/status/")
    return page


def on_each_refresh(page: object, handle: Callable[[object], object]) -> None:
    """`handle` gets each refresh's request (a fetch), instead of the network."""
    page.route(
        "**/staff/status/",
        lambda route: (
            handle(route) if route.request.resource_type == "fetch" else route.continue_()
        ),
    )


def test_the_status_page_refreshes_and_keeps_what_the_reader_opened(status_page: object) -> None:
    status_page.locator("details summary").first.click()
    failed_welcome_email(2, name="welcome-email-2")  # appears at the next refresh
    expect(status_page.get_by_text("welcome-email-2")).to_be_visible(timeout=10_000)
    expect(status_page.locator("details[open] pre").first).to_be_visible()


def test_a_section_opened_while_a_refresh_is_on_its_way_stays_open(status_page: object) -> None:
    held: list[object] = []
    on_each_refresh(status_page, held.append)
    with status_page.expect_request(lambda request: request.resource_type == "fetch"):
        pass  # the refresh is asked for, and its answer held back
    failed_welcome_email(2, name="welcome-email-2")
    status_page.locator("details summary").first.click()
    held[0].fulfill(response=held[0].fetch())
    expect(status_page.get_by_text("welcome-email-2")).to_be_visible()
    expect(status_page.locator("details[open] pre").first).to_be_visible()


def test_the_status_page_says_when_it_could_not_refresh_and_when_it_pauses(
    status_page: object,
) -> None:
    on_each_refresh(status_page, lambda route: route.abort())
    expect(status_page.get_by_text("This page could not be refreshed")).to_be_visible()
    shoot(status_page, "status-refresh-failed")
    status_page.unroute("**/staff/status/")
    expect(status_page.get_by_text("This page could not be refreshed")).not_to_be_visible()
    status_page.get_by_role("checkbox").check()
    paused = status_page.get_by_text("Refreshing is paused while a failed task is ticked.")
    expect(paused).to_be_visible()


def test_a_double_click_on_create_account_creates_one_account_and_shows_success(
    page: object, live_server: object
) -> None:
    fill_signup_form(page, live_server.url, "doubleclicker")
    page.get_by_role("button", name="Create account").dblclick()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert User.objects.filter(username="doubleclicker").count() == 1


def test_a_pressed_submit_button_says_what_it_is_doing_and_takes_no_second_press(
    page: object, live_server: object
) -> None:
    fill_signup_form(page, live_server.url, "patient")
    # The submit event without the navigation that would follow it.
    page.locator("form[action='/signup/']").dispatch_event("submit")
    busy = page.get_by_role("button", name="Creating account…")
    expect(busy).to_be_disabled()


def test_after_a_failed_submit_focus_is_on_the_list_of_problems(
    page: object, live_server: object
) -> None:
    fill_signup_form(page, live_server.url, "not valid")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.locator("#error-summary")).to_be_focused()
    page.get_by_role("link", name=re.compile("^Username:")).click()
    expect(page.get_by_label("Username")).to_be_focused()


def test_a_password_can_be_shown_and_hidden_again(page: object, live_server: object) -> None:
    fill_signup_form(page, live_server.url, "shower")
    password = page.get_by_label("Password", exact=True)
    page.get_by_role("button", name="Show").first.click()
    expect(password).to_have_attribute("type", "text")
    page.get_by_role("button", name="Hide").click()
    expect(password).to_have_attribute("type", "password")


def test_the_language_switcher_turns_the_page_into_french_and_back(
    page: object, live_server: object
) -> None:
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", name="Créer un compte")).to_be_visible()
    assert page.url == f"{live_server.url}/signup/"
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
