"""The micro-randomization design form and the analysis page in a real browser: a problem
shown at its input and corrected, and the analysis's problem before any decision point."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    LiveServer,
    check_accessibility,
    screenshot,
    sign_in,
    sqlite_only,
)
from tests.conftest import PASSWORD, STUDY


@sqlite_only
def test_a_researcher_designs_an_arms_micro_randomization_and_opens_the_analysis(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    email = staff_account("owner@example.org")
    with TestClient(live_server.app) as api:
        token = api.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        study = api.post("/v1/studies", json=STUDY, headers=headers).json()

    sign_in(page, live_server, email)
    page.goto(live_server(f"/console/studies/{study['id']}"))
    page.get_by_role("link", name="Micro-randomization").click()
    page.get_by_role("link", name="tailored").click()
    page.get_by_label("p by study day").fill("0.4, often")
    page.get_by_label("Self-initiated check-ins are decision points").check()
    page.get_by_role("button", name="Save the design").click()
    expect(page.get_by_label("p by study day")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("p by study day")).to_have_value("0.4, often")
    check_accessibility(page)
    screenshot(page, "mrt-design")
    page.get_by_label("p by study day").fill("0.4, 0.6")
    page.get_by_role("button", name="Save the design").click()
    expect(page.get_by_text("0.4, 0.6").first).to_be_visible()
    expect(page.get_by_role("button", name="Not micro-randomized")).to_be_visible()

    page.get_by_role("link", name="MRT analysis").click()
    expect(page.get_by_role("heading", name="MRT analysis")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("This study has no decision points yet")
    check_accessibility(page)
    screenshot(page, "mrt-analysis")
