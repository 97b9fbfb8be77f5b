"""The clinician's review in a real browser: the study's review flags lead to a flagged
participant's review, whose flag is cleared with a note, and to the plan, edited there;
axe-core on each page."""

import uuid
from collections.abc import Callable
from datetime import timedelta
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
from tests.conftest import START
from tests.test_checkins import FUSED


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
    settings = client.put(
        f"/v1/studies/{study['id']}/review-settings", json={"min_checkins": 2}, headers=owner
    )
    assert settings.status_code == 200, settings.text
    person = enroll(study["id"])
    for minutes in (5, 10):  # cognition stays fused: no targeted dimension improves
        clock.set(START + timedelta(minutes=minutes))
        body = {
            "client_id": uuid.uuid4().hex,
            "answered_at": clock.now().isoformat(),
            "answers": FUSED,
        }
        response = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert response.status_code == 201, response.text

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
