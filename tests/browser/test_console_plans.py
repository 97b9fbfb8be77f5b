"""The clinician's review in a real browser: the study's review flags lead to a flagged
participant's review, whose flag is cleared with a note, and to the plan, edited there;
axe-core on each page."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.clock import FrozenClock
from tests.browser.conftest import (
    LiveServer,
    check_accessibility,
    screenshot,
    sign_in,
    sqlite_only,
)
from tests.console_client import flagged_participant


@sqlite_only
def test_a_clinician_reviews_a_flagged_participant_and_clears_the_flag(
    console_page: Page,
    live_server: LiveServer,
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    staff_account: Callable[..., str],
    clock: FrozenClock,
) -> None:
    page = console_page
    study = make_study(arms=[{"key": "tailored", "policy": "tailored"}])
    clinician = staff_account("clinician@example.org")
    added = client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": clinician, "role": "clinician"},
        headers=owner,
    )
    assert added.status_code == 200, added.text
    person = flagged_participant(client, owner, enroll, clock, study)

    sign_in(page, live_server, clinician)
    page.goto(live_server(f"/console/studies/{study['id']}"))
    page.get_by_role("navigation", name="Study").get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Review flags")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("link", name=person["pseudonym"]).click()
    expect(page.get_by_role("heading", name=f"Review of {person['pseudonym']}")).to_be_visible()
    expect(page.get_by_text("No targeted dimension improves").first).to_be_visible()
    check_accessibility(page)
    screenshot(page, "participant-review")
    page.get_by_label("What the review concluded").fill("Talked it through: a new image")
    page.get_by_role("button", name="Clear the flag").click()
    expect(page.get_by_text("No open review flag.")).to_be_visible()
    page.get_by_role("link", name="Plan", exact=True).click()
    page.get_by_label("Values 1").fill("Being there for my daughter")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.get_by_text("Version 1, by clinician@example.org")).to_be_visible()
    check_accessibility(page)
