"""The console's shell in a real browser: signing in and out, the refusal of a wrong
password, the language switch, accessibility of the sign-in page and the layout."""

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    LiveServer,
    check_accessibility,
    screenshot,
    sign_in,
    sqlite_only,
)


def test_a_staff_member_signs_in_and_out(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    email = staff_account("researcher@example.org")
    page.goto(live_server("/console"))
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    check_accessibility(page)
    screenshot(page, "sign-in")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
    expect(page.get_by_label("Email")).to_have_value(email)
    check_accessibility(page)

    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your studies")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    check_accessibility(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(live_server("/console/studies"))
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=%2Fconsole%2Fstudies"))


@sqlite_only
def test_the_language_follows_the_browser_and_the_switch(
    browser_context_args: dict[str, object],
    console_page: Page,
    live_server: LiveServer,
    staff_account: Callable[..., str],
) -> None:
    page = console_page
    email = staff_account()
    page.context.set_extra_http_headers({"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    page.goto(live_server("/console/sign-in"))
    expect(page.get_by_role("heading", name="Iniciar sesión en Kairos")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    check_accessibility(page)

    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar idioma").click()
    expect(page.get_by_role("heading", name="Sign in to Kairos")).to_be_visible()
    sign_in(page, live_server, email)
    expect(page.get_by_role("heading", name="Your studies")).to_be_visible()
