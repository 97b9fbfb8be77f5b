"""The schedule and rules pages in a real browser: the schedule part of journey 1 (edit the
schedule, preview it across New York's spring-forward change), a rule set with a bad node
(the error at that node, the text kept), and the dry run (fired rules and candidates)."""

import json
import re
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


def _headers(api: TestClient, email: str) -> dict[str, str]:
    token = api.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _study(live_server: LiveServer, email: str) -> str:
    """A draft three-arm study in New York, made through the API as its owner."""
    with TestClient(live_server.app) as api:
        headers = _headers(api, email)
        made = api.post(
            "/v1/studies",
            json={**STUDY, "default_timezone": "America/New_York"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])


def _open(page: Page, live_server: LiveServer, email: str, link: str) -> None:
    """A new study's page, signed in as its owner, through the study's navigation."""
    study = _study(live_server, email)
    sign_in(page, live_server, email)
    page.goto(live_server(f"/console/studies/{study}"))
    page.get_by_role("link", name=link).click()


def test_a_researcher_edits_the_schedule_and_previews_it_across_a_clock_change(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    _open(page, live_server, staff_account("researcher@example.org"), "Schedule")
    expect(page.get_by_role("heading", name="Prompt schedule")).to_be_visible()
    expect(page.get_by_text("This study has no prompt schedule yet.")).to_be_visible()
    check_accessibility(page)

    # A mistake first: the window ends before it starts and the last day is missing.
    page.get_by_label("Window 1: from (HH:MM)").fill("09:00")
    page.get_by_label("Window 1: until (HH:MM)").fill("08:00")
    page.get_by_label("Window 1: prompts").fill("3")
    page.get_by_label("Minimum gap between prompts (minutes)").fill("90")
    page.get_by_label("Reminders (minutes after the prompt)").fill("20")
    page.get_by_label("Saturday").uncheck()
    page.get_by_role("button", name="Save the schedule").click()
    until = page.get_by_label("Window 1: until (HH:MM)")
    expect(until).to_have_value("08:00")
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(until).to_have_accessible_description(re.compile("end must be after start"))
    expect(page.get_by_label("Last study day")).to_have_accessible_description(
        re.compile("Field required")
    )
    expect(page.get_by_label("Saturday")).not_to_be_checked()
    check_accessibility(page)

    until.fill("21:00")
    page.get_by_label("Last study day").fill("28")
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.get_by_text(re.compile(r"Version 1, saved"))).to_be_visible()
    expect(page.get_by_label("Window 1: until (HH:MM)")).to_have_value("21:00")

    # New York springs forward on Sunday 2026-03-08: a week from Friday the 6th.
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_label("Enrollment date (study day 1)").fill("2026-03-06")
    page.get_by_label("Days", exact=True).fill("7")
    page.get_by_label("Wakes at (HH:MM, optional)").fill("07:30")
    page.get_by_label("Sleeps at (HH:MM, optional)").fill("23:00")
    page.get_by_role("button", name="Show the preview").click()
    calendar = page.get_by_role("table", name="Prompts in America/New_York, local time")
    expect(calendar).to_be_visible()
    rows = calendar.get_by_role("row")
    expect(rows).to_have_count(8)  # the header and seven days
    change = calendar.get_by_role("row", name=re.compile("2026-03-08"))
    expect(change).to_contain_text("Clock change: UTC-05:00 → UTC-04:00")
    # Each prompt of that day shows its own offset: all after 03:00, so daylight time.
    expect(change.get_by_role("listitem")).to_have_count(3)
    expect(change.get_by_text("(UTC-04:00)")).to_have_count(3)
    saturday = calendar.get_by_role("row", name=re.compile("2026-03-07"))
    expect(saturday).to_contain_text("no prompts")  # the schedule leaves Saturdays out
    expect(calendar.get_by_role("row", name=re.compile("2026-03-06"))).to_contain_text("UTC-05:00")
    after = calendar.get_by_role("row", name=re.compile("2026-03-09"))
    expect(after).to_contain_text("UTC-04:00")
    expect(after.get_by_role("listitem")).to_have_count(3)
    for time in after.locator("time").all()[1:]:
        hour = int((time.text_content() or "").split(":")[0])
        assert 9 <= hour < 21  # local time, inside the window, after the change too
    expect(calendar.get_by_text("Clock change")).to_have_count(1)
    check_accessibility(page)
    screenshot(page, "schedule-preview")


@sqlite_only
def test_a_rule_set_with_a_bad_node_shows_the_error_there_and_the_dry_run_explains(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    _open(page, live_server, staff_account("researcher@example.org"), "Rules")
    expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    readable = page.get_by_role("list", name="Rules as conditions")
    expect(readable.get_by_role("listitem").first).to_contain_text("scores")
    check_accessibility(page)

    rule_set = {
        "rules": [
            {
                "id": "fusion",
                "pole": "cognitive_fusion",
                "value": {
                    "op": "mean",
                    "of": [
                        {"op": "item", "item": "cognition_fused"},
                        {"op": "reverse", "of": {"op": "item", "item": "cognition_fuzzed"}},
                    ],
                },
                "when": {
                    "op": "compare",
                    "left": {"op": "item", "item": "distress"},
                    "cmp": ">=",
                    "right": {"op": "const", "value": 7},
                },
            }
        ]
    }
    typed = json.dumps(rule_set, indent=2)
    page.get_by_label("Rule set (JSON)").fill(typed)
    page.get_by_role("button", name="Save the rules").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("rules[0].value.of[1].of.item")
    expect(alert).to_contain_text("'cognition_fuzzed' is not an item of the questionnaire")
    rule = page.get_by_role("list", name="Rules as conditions").get_by_role("listitem")
    expect(rule).to_have_count(1)
    expect(rule).to_contain_text(
        "100 - cognition_fuzzed Error: 'cognition_fuzzed' is not an item of the questionnaire"
    )
    expect(rule).to_contain_text("when distress ≥ 7")
    expect(page.get_by_label("Rule set (JSON)")).to_have_value(typed)
    check_accessibility(page)
    screenshot(page, "rules-error")

    fixed = typed.replace("cognition_fuzzed", "cognition_defused")
    page.get_by_label("Rule set (JSON)").fill(fixed)
    page.get_by_role("button", name="Save the rules").click()
    expect(page.get_by_text(re.compile(r"Version 2, saved"))).to_be_visible()

    page.get_by_role("link", name="Try the rules on sample answers (dry run)").click()
    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    check_accessibility(page)
    page.get_by_label(re.compile(r"^cognition_fused —")).fill("90")
    page.get_by_label(re.compile(r"^cognition_defused —")).fill("10")
    page.get_by_label(re.compile(r"^distress —")).fill("40")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.get_by_text("Negative: no risk answer at or above a threshold.")).to_be_visible()
    fired = page.locator("dt", has_text="Fired rules").locator("xpath=following-sibling::dd[1]")
    expect(fired).to_have_text("fusion")
    target = page.locator("dt", has_text="Target").locator("xpath=following-sibling::dd[1]")
    expect(target).to_contain_text("fusion")
    candidates = page.get_by_role("table", name="Candidates")
    expect(candidates.get_by_role("row")).not_to_have_count(1)
    shares = [
        float((cell.text_content() or "").rstrip(" %"))
        for cell in candidates.locator("tbody td.number").all()
    ]
    assert shares and abs(sum(shares) - 100) < 0.5 * len(shares)
    expect(page.get_by_label(re.compile(r"^cognition_fused —"))).to_have_value("90")
    check_accessibility(page)
    screenshot(page, "rules-dry-run")


@sqlite_only
def test_a_clinician_gives_a_participant_an_own_schedule(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    owner = staff_account("researcher@example.org")
    clinician = staff_account("clinician@example.org")
    study = _study(live_server, owner)
    with TestClient(live_server.app) as api:
        headers = _headers(api, owner)
        schedule = {"fixed_times": ["09:00", "18:00"], "last_day": 28}
        api.put(f"/v1/studies/{study}/schedule", json={"schedule": schedule}, headers=headers)
        assert api.post(f"/v1/studies/{study}/activate", headers=headers).status_code == 200
        api.put(
            f"/v1/studies/{study}/members",
            json={"email": clinician, "role": "clinician"},
            headers=headers,
        )
        made = api.post(
            f"/v1/studies/{study}/participants",
            json={"pseudonym": "P-007", "timezone": "America/New_York"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        person = made.json()["id"]
    sign_in(page, live_server, clinician)
    page.goto(live_server(f"/console/studies/{study}/participants/{person}/schedule"))
    expect(page.get_by_role("heading", name="Own schedule of P-007")).to_be_visible()
    expect(page.get_by_text("P-007 follows the study's schedule.")).to_be_visible()
    expect(page.get_by_label("Fixed times")).to_have_value("09:00, 18:00")
    check_accessibility(page)

    page.get_by_label("Fixed times").fill("11:00, 20:00")
    page.get_by_role("button", name="Save the own schedule").click()
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Fixed times")).to_have_value("11:00, 20:00")
    page.get_by_label("Reason").fill("works a late shift")
    page.get_by_role("button", name="Save the own schedule").click()
    expect(page.get_by_text(re.compile("has an own schedule \\(version 1\\)"))).to_be_visible()
    history = page.get_by_role("table")
    expect(history).to_contain_text("works a late shift")
    check_accessibility(page)
    screenshot(page, "schedule-override")

    page.get_by_label("Reason").fill("back to days")
    page.get_by_role("button", name="Return to the study's schedule").click()
    expect(page.get_by_text("P-007 follows the study's schedule.")).to_be_visible()
    expect(history.get_by_role("row")).to_have_count(3)
