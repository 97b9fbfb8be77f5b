"""A draft study's settings in a real browser: a researcher's mistakes are shown at their
fields with what was typed kept, the corrected form saves, and once active the page says
why nothing changes (axe-core on each page)."""

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, check_accessibility, screenshot, sign_in, sqlite_only
from tests.conftest import PASSWORD


@sqlite_only
def test_a_researcher_edits_a_draft_s_settings_then_sees_them_fixed_once_active(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    researcher = staff_account("settings@example.org")
    with httpx.Client(base_url=live_server.url, timeout=30) as api:
        token = api.post("/v1/auth/token", data={"username": researcher, "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        body = {
            "name": "Draft trial",
            "default_timezone": "Europe/Madrid",
            "arms": [{"key": "tailored", "policy": "tailored"}],
        }
        study_id = api.post("/v1/studies", json=body).json()["id"]
    sign_in(page, live_server, researcher)
    page.goto(live_server(f"/console/studies/{study_id}"))
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Draft trial")
    check_accessibility(page)

    page.get_by_label("Name", exact=True).fill("")
    second = page.get_by_role("group", name="Arm 2")
    second.get_by_label("Key").fill("assessment")
    second.get_by_label("Policy").select_option("assessment_only")
    page.get_by_label("Block size").fill("3")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields")
    expect(page.get_by_label("Name", exact=True)).to_have_accessible_description(
        re.compile("at least 1 character")
    )
    expect(page.get_by_label("Block size")).to_have_value("3")
    expect(page.get_by_role("group", name="Arm 2").get_by_label("Key")).to_have_value("assessment")
    check_accessibility(page)
    screenshot(page, "study-settings-problems")

    page.get_by_label("Name", exact=True).fill("Two-arm trial")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_label("Block size")).to_have_accessible_description(re.compile("multiple"))
    page.get_by_label("Block size").fill("4")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("heading", name="Two-arm trial")).to_be_visible()
    expect(page.get_by_role("cell", name="assessment", exact=True)).to_be_visible()

    page.get_by_role("button", name="Activate study").click()
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Settings").click()
    expect(page.get_by_text(re.compile("The study is active, so its name"))).to_be_visible()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    check_accessibility(page)
