"""The care pages without a browser: who may see them (404 outside the study, 403 for a
viewer), the arm and skill never shown where arms are concealed, status changes with a
reason, personalization with the API's problems at their fields, acknowledging safety
events (audited, CSRF-checked), the header count, compliance."""

import html
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from tests.conftest import START
from tests.console_client import add_members, sign_in_as
from tests.test_checkins import BASE as CALM


@pytest.fixture
def world(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
    clock: FrozenClock,
) -> dict[str, Any]:
    """A study with one tailored participant, two check-ins (the second a risk answer), a
    clinician and a viewer; and a stranger's study."""
    study = make_study(arms=[{"key": "tailored", "policy": "tailored"}])
    person = enroll(study["id"])
    members = {"clin@example.org": "clinician", "view@example.org": "viewer"}
    add_members(client, owner, make_staff, study, members)
    schedule = {
        "schedule": {"fixed_times": ["10:00", "18:00"], "last_day": 28, "expiry_minutes": 60},
        "notification": {"en": {"title": "Hi", "body": "Check in?"}},
    }
    saved = client.put(f"/v1/studies/{study['id']}/schedule", json=schedule, headers=owner)
    assert saved.status_code == 200, saved.text
    stranger = make_staff("stranger@example.org")
    other = make_study(headers=stranger)
    clock.set(START + timedelta(minutes=5))
    for answers in ({**CALM, "cognition_fused": 90, "cognition_defused": 5}, {**CALM, "risk": 90}):
        body = {
            "client_id": uuid.uuid4().hex,
            "answered_at": (START + timedelta(minutes=4)).isoformat(),
            "answers": answers,
        }
        response = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert response.status_code == 201, response.text
    page = f"/console/studies/{study['id']}/participants/{person['id']}"
    return {"study": study, "person": person, "other": other, "page": page}


def test_the_participant_page_is_for_care_roles_of_the_study(
    client: TestClient, world: dict[str, Any]
) -> None:
    sign_in_as(client, "stranger@example.org")
    assert client.get(world["page"]).status_code == 404
    other_page = f"/console/studies/{world['other']['id']}/participants/{world['person']['id']}"
    assert client.get(other_page).status_code == 404  # not a participant of that study
    sign_in_as(client, "view@example.org")
    assert client.get(world["page"]).status_code == 403
    sign_in_as(client, "clin@example.org")
    page = client.get(world["page"])
    assert page.status_code == 200
    assert f"Participant {world['person']['pseudonym']}" in page.text


def test_a_clinician_never_sees_a_concealed_arm_or_skill(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    base = f"/v1/studies/{world['study']['id']}/participants/{world['person']['id']}"
    given_skills = [
        d["skill_key"] for d in client.get(f"{base}/deliveries", headers=owner).json()["items"]
    ]
    skill = next(key for key in given_skills if key)  # the owner sees the fused one's skill
    sign_in_as(client, "owner@example.org")
    assert skill in client.get(world["page"]).text
    sign_in_as(client, "clin@example.org")
    text = client.get(world["page"]).text
    # The library's skills are listed to personalize (every arm has the same library);
    # what this participant was given, and the arm, are not shown.
    given = text[text.index('id="timeline-heading"') : text.index('id="safety-heading"')]
    assert skill not in given and "Helpfulness" not in given
    assert "<dt>Arm</dt>" not in text and "tailored" not in given
    timeline = json.loads(re.findall(r'id="timeline-data">(.*?)</script>', text, re.S)[0])
    assert timeline["deliveries"] and all(
        mark["skill"] is None and mark["helpfulness"] is None for mark in timeline["deliveries"]
    )


def test_a_status_change_takes_a_reason_and_refuses_what_makes_no_sense(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    url = world["page"] + "/status"
    assert client.post(url, data={"status": "paused"}).status_code == 403  # no CSRF token
    paused = client.post(
        url,
        data={"csrf_token": token, "status": "paused", "reason": "In hospital for a week"},
        follow_redirects=False,
    )
    assert (paused.status_code, paused.headers["location"]) == (303, world["page"])
    audit = client.get(
        f"/v1/studies/{world['study']['id']}/audit-events",
        params={"action": "participant.status"},
        headers=owner,
    ).json()["items"]
    assert audit[0]["details"]["reason"] == "In hospital for a week"
    again = client.post(url, data={"csrf_token": token, "status": "paused", "reason": "x" * 501})
    assert again.status_code == 422
    assert 'id="f-reason-error"' in again.text and "x" * 501 in again.text  # kept as typed
    participant = client.get(
        f"/v1/studies/{world['study']['id']}/participants/{world['person']['id']}", headers=owner
    ).json()
    assert participant["status"] == "paused"


def test_personalization_saves_through_the_api_service_and_shows_its_problems(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    url = world["page"] + "/personalization"
    page = client.get(world["page"]).text
    key = re.findall(r'name="disabled\.([a-z0-9_]+)"', page)[0]
    wrong = client.post(
        url,
        data={"csrf_token": token, f"disabled.{key}": "true", "threshold_overrides.emotion": "150"},
    )
    assert wrong.status_code == 422
    assert 'id="f-threshold_overrides-emotion-error"' in wrong.text
    assert re.search(rf'name="disabled\.{key}" value="true" checked', wrong.text)
    not_json = client.post(url, data={"csrf_token": token, "extra_skills": "[{"})
    assert not_json.status_code == 422 and 'id="f-extra_skills-error"' in not_json.text
    own = json.dumps(
        [
            {
                "key": "my_walk",
                "title": "A walk",
                "steps": ["Walk"],
                "duration_seconds": 60,
                "targets": ["inaction"],
            }
        ]
    )
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            f"disabled.{key}": "true",
            "threshold_overrides.motivation": "55",
            "extra_skills": own,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    base = f"/v1/studies/{world['study']['id']}/participants/{world['person']['id']}"
    stored = client.get(f"{base}/personalization", headers=owner).json()
    assert stored["disabled_skills"] == [key]
    assert stored["threshold_overrides"] == {"motivation": 55.0}
    assert [skill["key"] for skill in stored["extra_skills"]] == ["my_walk"]
    shown = client.get(world["page"]).text
    assert re.search(rf'name="disabled\.{key}" value="true" checked', shown)
    assert 'value="55"' in shown and "my_walk" in shown


def test_the_inbox_lists_open_events_and_acknowledges_with_a_note(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    study_id = world["study"]["id"]
    event = client.get(f"/v1/studies/{study_id}/safety-events", headers=owner).json()["items"][0]
    url = f"/console/studies/{study_id}/safety-events/{event['id']}/acknowledge"
    sign_in_as(client, "stranger@example.org")
    assert "0 open" in client.get("/console/safety/count").text
    assert world["person"]["pseudonym"] not in client.get("/console/safety").text
    sign_in_as(client, "view@example.org")
    assert "0 open" in client.get("/console/safety/count").text  # no care role there
    token = sign_in_as(client, "clin@example.org")
    count = client.get("/console/safety/count").text
    assert "1 open" in count and 'hx-trigger="every 30s"' in count
    inbox = client.get("/console/safety").text
    assert world["person"]["pseudonym"] in inbox and "high" in inbox
    assert client.post(url, data={"note": "seen"}).status_code == 403  # no CSRF token
    blank = client.post(url, data={"csrf_token": token, "note": ""})
    assert blank.status_code == 422 and f'id="note-{event["id"]}-error"' in blank.text
    done = client.post(
        url,
        data={"csrf_token": token, "note": "Called, safe", "next": world["page"]},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, world["page"])
    twice = client.post(url, data={"csrf_token": token, "note": "again"})
    assert twice.status_code == 409
    assert "0 open" in client.get("/console/safety/count").text
    assert "Called, safe" in client.get(world["page"]).text
    stored = client.get(f"/v1/studies/{study_id}/safety-events", headers=owner).json()["items"]
    assert stored[0]["note"] == "Called, safe"
    sign_in_as(client, "stranger@example.org")
    foreign = f"/console/studies/{world['other']['id']}/safety-events/{event['id']}/acknowledge"
    token = sign_in_as(client, "stranger@example.org")
    assert client.post(foreign, data={"csrf_token": token, "note": "x"}).status_code == 404
    assert client.post(url, data={"csrf_token": token, "note": "x"}).status_code == 404


def test_an_outside_next_is_not_followed(client: TestClient, world: dict[str, Any]) -> None:
    study_id = world["study"]["id"]
    token = sign_in_as(client, "clin@example.org")
    event_id = re.findall(
        r"/safety-events/([0-9a-f-]+)/acknowledge", client.get("/console/safety").text
    )[0]
    done = client.post(
        f"/console/studies/{study_id}/safety-events/{event_id}/acknowledge",
        data={"csrf_token": token, "note": "ok", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/console/safety"


def test_compliance_per_day_for_the_study_and_the_participant(
    client: TestClient, world: dict[str, Any], owner: dict[str, str], clock: FrozenClock
) -> None:
    study_id = world["study"]["id"]
    api = client.get(f"/v1/studies/{study_id}/compliance", headers=owner).json()
    sign_in_as(client, "view@example.org")  # compliance is for every role, as in the API
    page = client.get(
        f"/console/studies/{study_id}/compliance",
        params={"start": "2026-03-01", "end": "2026-03-31"},
    )
    assert page.status_code == 200
    days = re.findall(r'<th scope="row">(\d{4}-\d\d-\d\d)</th>', page.text)
    assert days == [day["local_date"] for day in api["study_days"]] and days
    assert 'id="compliance-data"' in page.text
    backwards = client.get(
        f"/console/studies/{study_id}/compliance",
        params={"start": "2026-03-05", "end": "2026-03-01"},
    )
    assert backwards.status_code == 422
    sign_in_as(client, "clin@example.org")
    mine = client.get(world["page"]).text
    own_days = [
        d["local_date"] for d in api["days"] if d["participant"] == world["person"]["pseudonym"]
    ]
    assert own_days and all(day in mine for day in own_days)


def _timeline_points(page: str) -> list[str]:
    data = json.loads(re.findall(r'id="timeline-data">(.*?)</script>', page, re.S)[0])
    return [point["at"] for point in data["raw"]]


def test_the_timeline_shows_the_chosen_period_and_the_lists_stay_paged(
    client: TestClient, world: dict[str, Any], clock: FrozenClock
) -> None:
    """The two check-ins of the first day, then one 40 days later: the default four weeks
    and 7 days show the last, 90 days and all show the three; the check-in list pages over
    the whole history whatever the period."""
    clock.set(START + timedelta(days=40))
    body = {
        "client_id": uuid.uuid4().hex,
        "answered_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        "answers": CALM,
    }
    answered = client.post("/v1/checkins", json=body, headers=world["person"]["headers"])
    assert answered.status_code == 201, answered.text
    sign_in_as(client, "clin@example.org")
    shown = {
        period: client.get(world["page"], params={} if period is None else {"period": period})
        for period in (None, "7", "28", "90", "all")
    }
    assert {period: len(_timeline_points(page.text)) for period, page in shown.items()} == {
        None: 1,
        "7": 1,
        "28": 1,
        "90": 3,
        "all": 3,
    }
    default = shown[None].text
    assert re.search(r'href="\?period=28#timeline-heading" aria-current="page"', default)
    first_day = (clock.now().date() - timedelta(days=27)).isoformat()  # Berlin's day is UTC's
    assert f"From {first_day}" in default
    # The daily table follows the period; the check-ins' list does not.
    assert default.count('<tr><th scope="row">2026-') == 1
    assert shown["all"].text.count('<tr><th scope="row">2026-') == 2
    listed = default[
        default.index('id="checkins-heading"') : default.index('id="deliveries-heading"')
    ]
    assert listed.count('<th scope="row"><time') == 3
    assert client.get(world["page"], params={"period": "5"}).status_code == 404  # no such page


def test_the_status_changes_are_listed_with_their_reasons_newest_first(
    client: TestClient, world: dict[str, Any], enroll: Callable[..., dict[str, Any]]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    assert "No status changes yet." in client.get(world["page"]).text
    other = enroll(world["study"]["id"])
    changes = (
        (world["page"], "paused", "In hospital for a week"),
        (world["page"], "active", "Back home"),
        (f"/console/studies/{world['study']['id']}/participants/{other['id']}", "paused", "Not me"),
    )
    for page, status, reason in changes:
        data = {"csrf_token": token, "status": status, "reason": reason}
        changed = client.post(f"{page}/status", data=data, follow_redirects=False)
        assert changed.status_code == 303, changed.text
    text = client.get(world["page"]).text
    history = text[text.index('id="status-history-heading"') : text.index('id="personalization"')]
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</th>(.*?)</tr>", history, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in rows]
    assert cells == [
        ["paused", "active", "Back home"],
        ["active", "paused", "In hospital for a week"],
    ]


def test_the_status_changes_come_a_page_at_a_time_keeping_the_period(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    for n in range(21):
        data = {"csrf_token": token, "status": ("paused", "active")[n % 2], "reason": f"#{n}"}
        changed = client.post(f"{world['page']}/status", data=data, follow_redirects=False)
        assert changed.status_code == 303, changed.text

    def history(query: str) -> tuple[list[str], list[str]]:
        text = client.get(world["page"] + query).text
        part = text[text.index('id="status-history-heading"') : text.index('id="personalization"')]
        links = [html.unescape(link) for link in re.findall(r'<a href="([^"]+)">', part)]
        return re.findall(r"<td>(#\d+)</td>", part), links

    first, links = history("?period=7")
    assert first == [f"#{n}" for n in range(20, 0, -1)]
    assert links == ["?period=7&status_offset=20#status-history-heading"]
    rest, links = history(links[0].split("#")[0])
    assert rest == ["#0"] and links == ["?period=7&status_offset=0#status-history-heading"]
