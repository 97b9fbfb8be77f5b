"""Journeys 1 and 5 of the console as far as the studies, participants and members pages
go: a researcher sets up and activates the three-arm study, adds a clinician, creates a
participant and enrolls them with the code and QR code the page shows; a viewer sees no edit
controls and is refused when posting anyway, a member of another study gets 404 on every
URL of the study, a form without its CSRF token is refused, a clinician never sees an arm."""

import io
import re
from collections.abc import Callable
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    LiveServer,
    check_accessibility,
    screenshot,
    sign_in,
    sqlite_only,
)
from tests.conftest import PASSWORD

STUDY_ARMS = ("arm_alpha", "arm_beta", "arm_gamma")


def _api(server: LiveServer, email: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    token = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Kairos")).to_be_visible()


def test_a_researcher_sets_up_the_three_arm_trial_and_enrolls_a_participant(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    researcher = staff_account("levin@example.org")
    clinician = staff_account("cruz@example.org")
    sign_in(page, live_server, researcher)
    page.get_by_role("link", name="New study").click()
    check_accessibility(page)

    # First attempt with mistakes: the API's problems beside the fields, what was typed kept.
    page.get_by_label("Name", exact=True).fill("ACT coaching trial")
    page.get_by_label("Time zone").fill("America/Nowhere")
    arm = page.get_by_role("group", name="Arm 1")
    arm.get_by_label("Key").fill("Tailored")
    arm.get_by_label("Policy").select_option("tailored")
    page.get_by_role("button", name="Create study").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields")
    expect(page.get_by_label("Time zone")).to_have_accessible_description(
        re.compile("is not an IANA time zone")
    )
    expect(arm.get_by_label("Key")).to_have_accessible_description(re.compile("should match"))
    expect(arm.get_by_label("Key")).to_have_value("Tailored")
    expect(page.get_by_label("Name", exact=True)).to_have_value("ACT coaching trial")
    check_accessibility(page)
    screenshot(page, "study-form-problems")

    page.get_by_label("Time zone").fill("America/New_York")
    for number, (key, policy) in enumerate(
        (("tailored", "tailored"), ("random", "random"), ("assessment", "assessment_only")),
        start=1,
    ):
        row = page.get_by_role("group", name=f"Arm {number}")
        row.get_by_label("Key").fill(key)
        row.get_by_label("Policy").select_option(policy)
        row.get_by_label("Weight").fill("1")
    page.get_by_label("Block size").fill("6")
    page.get_by_role("button", name="Create study").click()

    expect(page.get_by_role("heading", name="ACT coaching trial")).to_be_visible()
    expect(page.get_by_text("Nothing is missing: the study can be activated.")).to_be_visible()
    arms = page.get_by_role("table")
    for key in ("tailored", "random", "assessment"):
        expect(arms.get_by_role("cell", name=key, exact=True)).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Activate study").click()
    expect(page.get_by_text("active", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Close study")).to_be_visible()
    screenshot(page, "study-overview")

    page.get_by_role("navigation", name="Study").get_by_role("link", name="Members").click()
    page.get_by_label("Email of a staff account").fill(clinician)
    page.get_by_label("Role", exact=True).select_option("clinician")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("cell", name=clinician, exact=True)).to_be_visible()
    expect(page.get_by_label(f"Role of {clinician}")).to_have_value("clinician")
    check_accessibility(page)

    page.get_by_role("navigation", name="Study").get_by_role("link", name="Participants").click()
    page.get_by_role("link", name="New participant").click()
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    page.get_by_label("Pseudonym").fill("P-0001")
    page.get_by_role("button", name="Create participant").click()
    expect(page.get_by_role("heading", name="Participant P-0001 created")).to_be_visible()
    code = page.get_by_label("Enrollment code", exact=True).inner_text().strip()
    expect(page.get_by_text("Valid until")).to_contain_text("2026-03-05")
    qr = page.get_by_role("img", name="QR code of the enrollment link")
    scanned = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))]
    assert scanned == [f"{live_server.url}/app/enroll#code={code}"]
    check_accessibility(page)
    screenshot(page, "enrollment-code")

    enrolled = httpx.post(live_server("/v1/enroll"), json={"code": code}, timeout=30)
    assert enrolled.status_code == 201, enrolled.text

    page.get_by_role("link", name="Back to the participants").click()
    row = page.get_by_role("row", name=re.compile("P-0001"))
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("no prompts due")
    assert any(key in row.inner_text() for key in ("tailored", "random", "assessment"))
    check_accessibility(page)
    screenshot(page, "participants")


def _study_with_members(server: LiveServer, owner: str, members: dict[str, str]) -> str:
    api = _api(server, owner)
    created = api.post(
        "/v1/studies",
        json={
            "name": "Concealed trial",
            "default_timezone": "Europe/Madrid",
            "arms": [{"key": key, "policy": "tailored"} for key in STUDY_ARMS],
        },
    )
    assert created.status_code == 201, created.text
    study_id: str = created.json()["id"]
    assert api.post(f"/v1/studies/{study_id}/activate").status_code == 200
    for email, role in members.items():
        added = api.put(f"/v1/studies/{study_id}/members", json={"email": email, "role": role})
        assert added.status_code == 200, added.text
    participant = api.post(
        f"/v1/studies/{study_id}/participants", json={"timezone": "Europe/Madrid"}
    )
    code = participant.json()["enrollment"]["code"]
    assert httpx.post(server("/v1/enroll"), json={"code": code}).status_code == 201
    return study_id


def _study_urls(study_id: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    base = f"/console/studies/{study_id}"
    pages = [base, f"{base}/participants", f"{base}/participants/new", f"{base}/members"]
    posts = [
        (f"{base}/activate", {}),
        (f"{base}/close", {}),
        (f"{base}/participants/new", {"timezone": "Europe/Madrid"}),
        (f"{base}/members/set", {"email": "x@example.org", "role": "owner"}),
        (f"{base}/members/remove", {"email": "x@example.org"}),
    ]
    return pages, posts


def _csrf(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


@sqlite_only
def test_roles_concealment_and_csrf_hold_in_the_console(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    owner, viewer, clinician, stranger = (
        staff_account(f"{name}@example.org") for name in ("owner", "viewer", "clinician", "other")
    )
    study_id = _study_with_members(live_server, owner, {viewer: "viewer", clinician: "clinician"})
    _study_with_members(live_server, stranger, {})
    pages, posts = _study_urls(study_id)

    # A viewer: no edit controls anywhere; posting anyway is refused (403), nothing changes.
    sign_in(page, live_server, viewer)
    for path in pages[:2] + pages[3:]:
        page.goto(live_server(path))
        check_accessibility(page)
        for control in ("Activate study", "Close study", "Add member", "Save role", "Remove"):
            expect(page.get_by_role("button", name=control)).to_have_count(0)
        expect(page.get_by_role("link", name="New participant")).to_have_count(0)
    token = _csrf(page)
    for path, form in posts:
        refused = page.request.post(live_server(path), form={**form, "csrf_token": token})
        assert refused.status == 403, path
        assert "Your role" in refused.text()
    _sign_out(page)

    # A member of another study: every URL of this study is not found.
    sign_in(page, live_server, stranger)
    token = _csrf(page)
    for path in pages:
        response = page.goto(live_server(path))
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    check_accessibility(page)
    for path, form in posts:
        refused = page.request.post(live_server(path), form={**form, "csrf_token": token})
        assert refused.status == 404, path
    _sign_out(page)

    # A clinician: no arm anywhere, and filtering by one is refused.
    sign_in(page, live_server, clinician)
    for path in ["/console/studies", *pages[:2], pages[3]]:
        page.goto(live_server(path))
        text = page.content()
        assert not any(key in text for key in STUDY_ARMS), path
    expect(page.get_by_role("columnheader", name="Arm")).to_have_count(0)
    page.goto(live_server(f"{pages[1]}?arm={STUDY_ARMS[0]}"))
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    _sign_out(page)

    # The owner, without the CSRF token: refused, and nothing was created.
    sign_in(page, live_server, owner)
    refused = page.request.post(
        live_server(f"{pages[1]}/new"), form={"timezone": "Europe/Madrid", "pseudonym": "P-X"}
    )
    assert refused.status == 403
    assert "security token" in refused.text()
    page.goto(live_server(f"{pages[1]}?pseudonym=P-X"))
    expect(page.get_by_text("No participants match.")).to_be_visible()
