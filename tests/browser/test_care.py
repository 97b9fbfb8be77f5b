"""The clinician's pages in a real browser: journey 3 (a risk check-in reaches the safety
inbox without a reload and is acknowledged with a note) and journey 4 (after a series of
check-ins the participant's timeline shows the six dimensions), with axe-core on every page
and screenshots for the README."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.clock import FrozenClock
from app.settings import Settings
from tests.browser.conftest import LiveServer, check_accessibility, screenshot, sign_in
from tests.conftest import PASSWORD, START
from tests.test_checkins import BASE as CALM

DIMENSIONS = ["Emotion", "Cognition", "Attention", "Self", "Motivation", "Overt behavior"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The inbox polls every second here, so a test waits (with expect's timeout) for a
    # refresh that comes soon, never for a fixed time.
    return settings.model_copy(update={"console_refresh_seconds": 1})


def _study_with_clinician(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    staff_account: Callable[..., str],
    clock: FrozenClock,
    **fields: Any,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    study = make_study(**({"block_size": 3} | fields))
    person = enroll(study["id"])
    clinician = staff_account(f"clinician-{uuid.uuid4().hex[:6]}@example.org")
    added = client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": clinician, "role": "clinician"},
        headers=owner,
    )
    assert added.status_code == 200, added.text
    clock.set(START + timedelta(minutes=5))
    return study, person, clinician


def _check_in(
    client: TestClient, person: dict[str, Any], clock: FrozenClock, **answers: int
) -> dict[str, Any]:
    body = {
        "client_id": uuid.uuid4().hex,
        "answered_at": (clock.now() - timedelta(seconds=30)).isoformat(),
        "answers": {**CALM, **answers},
    }
    response = client.post("/v1/checkins", json=body, headers=person["headers"])
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_risk_check_in_reaches_the_inbox_without_a_reload_and_is_acknowledged(
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
    study, person, clinician = _study_with_clinician(
        client, owner, make_study, enroll, staff_account, clock
    )
    sign_in(page, live_server, clinician)
    header_count = page.get_by_role("link", name=re.compile(r"^Safety inbox"))
    expect(header_count).to_have_text(re.compile(r"0 open"))
    header_count.click()
    expect(page.get_by_role("heading", name="Safety inbox", level=1)).to_be_visible()
    expect(page.get_by_text("No open safety events.")).to_be_visible()
    check_accessibility(page)

    _check_in(client, person, clock, risk=85, distress=70)  # the phone's check-in
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=person["pseudonym"]))
    expect(row).to_be_visible(timeout=15_000)  # a poll, not a reload, brought it
    expect(row).to_contain_text("high")
    expect(row).to_contain_text(study["name"])
    expect(header_count).to_have_text(re.compile(r"1 open"), timeout=15_000)
    check_accessibility(page)

    # No note: the API's problem is shown at the note, and nothing is acknowledged.
    row.get_by_role("button", name="Acknowledge").click()
    note = page.get_by_label("Note")
    expect(note).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)

    # What is typed survives the list's refreshes.
    note.fill("Phoned the participant; safety plan reviewed")
    with page.expect_response(re.compile(r"/console/safety/events")):
        pass
    expect(note).to_have_value("Phoned the participant; safety plan reviewed")
    screenshot(page, "safety-inbox")

    note.press("Tab")
    page.get_by_role("button", name="Acknowledge").press("Enter")  # by keyboard
    expect(page.get_by_text("No open safety events.")).to_be_visible()
    expect(header_count).to_have_text(re.compile(r"0 open"))

    events = client.get(f"/v1/studies/{study['id']}/safety-events", headers=owner).json()
    assert [(e["tier"], e["note"]) for e in events["items"]] == [
        ("high", "Phoned the participant; safety plan reviewed")
    ]
    audit = client.get(
        f"/v1/studies/{study['id']}/audit-events",
        params={"action": "safety_event.acknowledge"},
        headers=owner,
    ).json()
    assert [event["resource_id"] for event in audit["items"]] == [events["items"][0]["id"]]


def _chart(page: Page) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => Chart.getChart(document.getElementById('timeline-chart')).data.datasets
                .map(set => ({label: set.label, ys: set.data.map(point => point.y)}))"""
        )
    )


def test_the_timeline_shows_the_six_dimensions_after_a_series_of_check_ins(
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
    # One tailored arm, so every check-in that finds a target gets a skill to rate.
    study, person, _ = _study_with_clinician(
        client,
        owner,
        make_study,
        enroll,
        staff_account,
        clock,
        arms=[{"key": "tailored", "policy": "tailored"}],
    )
    series = [
        {"emotion_avoid": 80, "emotion_open": 20},
        {"cognition_fused": 90, "cognition_defused": 10, "distress": 40},
        {"attention_stuck": 75, "self_content": 65},
        {"values_remote": 85, "values_clear": 15},
        {"behavior_stuck": 90, "behavior_acting": 5},
        {},
    ]
    for day, answers in enumerate(series):
        clock.set(START + timedelta(days=day // 2, hours=3 * (day % 2), minutes=5))
        out = _check_in(client, person, clock, **answers)
        skill = out.get("delivery") or {}
        if skill.get("id") and skill.get("skill"):
            rated = client.post(
                f"/v1/deliveries/{skill['id']}/feedback",
                json={"opened": True, "completed": True, "helpfulness": 3 + day},
                headers=person["headers"],
            )
            assert rated.status_code == 204, rated.text
    token = client.post(
        "/v1/auth/token", data={"username": "owner@example.org", "password": PASSWORD}
    ).json()["access_token"]  # the first one expired over these days
    owner = {"Authorization": f"Bearer {token}"}
    base = f"/v1/studies/{study['id']}/participants/{person['id']}"
    scores = client.get(f"{base}/scores", headers=owner).json()
    deliveries = client.get(f"{base}/deliveries", headers=owner).json()["items"]
    assert len(scores["raw"]) == len(series) and len(scores["daily"]) == 3

    sign_in(page, live_server, "owner@example.org")
    page.goto(live_server(f"/console/studies/{study['id']}/participants/{person['id']}"))
    expect(page.get_by_role("heading", name=f"Participant {person['pseudonym']}")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("six dimensions"))).to_be_visible()
    keys = ["emotion", "cognition", "attention", "self", "motivation", "behavior"]

    chart = _chart(page)
    assert [set_["label"] for set_ in chart] == [*DIMENSIONS, "Skills delivered"]
    for key, set_ in zip(keys, chart, strict=False):
        assert set_["ys"] == [point["needs"][key] for point in scores["raw"]]
    marks = sorted(deliveries, key=lambda d: d["created_at"])
    assert chart[-1]["ys"] == [d["helpfulness"] or 0 for d in marks]
    assert any(d["helpfulness"] for d in marks), "some skill was rated"
    check_accessibility(page)
    screenshot(page, "participant-timeline")

    page.get_by_label("Daily mean need").check()
    daily = _chart(page)
    assert [set_["label"] for set_ in daily][:6] == [f"{d} (daily mean)" for d in DIMENSIONS]
    for key, set_ in zip(keys, daily, strict=False):
        assert set_["ys"] == [day["needs"][key] for day in scores["daily"]]

    flexible_poles = [
        "acceptance", "defusion", "present_moment", "self_as_context", "chosen_values",
        "committed_action",
    ]  # fmt: skip
    inflexible_poles = [
        "experiential_avoidance", "cognitive_fusion", "inflexible_attention",
        "self_as_content", "values_remoteness", "inaction",
    ]  # fmt: skip
    for view, poles in (
        ("Flexible scores", flexible_poles),
        ("Inflexible scores", inflexible_poles),
    ):
        page.get_by_role("radio", name=view, exact=True).check()
        shown = _chart(page)
        assert len(shown) == 7
        for pole, set_ in zip(poles, shown, strict=False):
            assert set_["ys"] == [point["scores"][pole] for point in scores["raw"]]

    # The table alternative has the same daily means.
    page.get_by_text("Daily mean need as a table").click()
    table = page.get_by_role("table", name=re.compile("Mean need per dimension"))
    expect(table.get_by_role("row")).to_have_count(1 + len(scores["daily"]))
    check_accessibility(page)

    # The period: a week shows the same series (it is two days old); the status changes
    # with their reasons are listed beside the form.
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")
    assert len(_chart(page)[0]["ys"]) == len(series)
    expect(page.get_by_text("No status changes yet.")).to_be_visible()
    page.get_by_label("New status").select_option("paused")
    page.get_by_label("Reason").fill("Travelling for a week")
    page.get_by_role("button", name="Change the status").click()
    history = page.get_by_role("table", name=re.compile("with the reason given"))
    expect(history.get_by_role("row").nth(1)).to_contain_text("active")
    expect(history.get_by_role("row").nth(1)).to_contain_text("paused")
    expect(history.get_by_role("row").nth(1)).to_contain_text("Travelling for a week")
    check_accessibility(page)
