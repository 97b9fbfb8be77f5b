"""Schedules, previews, overrides, waking hours, the app's prompt list and compliance."""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.push.log import LogSender
from app.scheduling.dispatch import dispatch_once, expire_prompts
from app.scheduling.models import Prompt, PromptStatus
from tests.conftest import PASSWORD, START

SCHEDULE = {"fixed_times": ["13:00", "18:00"], "last_day": 28, "expiry_minutes": 60}


@pytest.fixture
def study(client: TestClient, owner: dict, make_study: Callable) -> dict[str, Any]:
    study = make_study()
    saved = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": SCHEDULE}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    return study


def _times(session: Session, person: dict) -> list[datetime]:
    return list(
        session.exec(
            select(Prompt.scheduled_at)
            .where(
                Prompt.participant_id == uuid.UUID(person["id"]),
                Prompt.status == PromptStatus.planned,
            )
            .order_by(col(Prompt.scheduled_at))
        )
    )


def test_a_schedule_is_versioned_and_only_researchers_change_it(
    client: TestClient, owner: dict, make_staff: Callable, study: dict
) -> None:
    url = f"/v1/studies/{study['id']}/schedule"
    body = {
        "schedule": {**SCHEDULE, "fixed_times": ["10:00"]},
        "notification": {"en": {"title": "Hi", "body": "Check in?"}},
    }
    saved = client.put(url, json=body, headers=owner).json()
    assert saved["version"] == 2
    assert saved["notification"] == {"en": {"title": "Hi", "body": "Check in?"}}
    assert client.get(url, headers=owner).json()["schedule"]["fixed_times"] == ["10:00:00"]
    versions = client.get(f"{url}/versions", headers=owner).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["next_offset"] is None
    first = client.get(f"{url}/versions", params={"limit": 1}, headers=owner).json()
    assert ([v["version"] for v in first["items"]], first["next_offset"]) == ([2], 1)
    rest = client.get(f"{url}/versions", params={"limit": 1, "offset": 1}, headers=owner).json()
    assert ([v["version"] for v in rest["items"]], rest["next_offset"]) == ([1], None)
    clinician = make_staff("clinician@example.org")
    member = {"email": "clinician@example.org", "role": "clinician"}
    assert client.put(f"/v1/studies/{study['id']}/members", json=member, headers=owner).is_success
    refused = client.put(url, json=body, headers=clinician)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_forbidden")


def test_a_study_without_a_schedule_says_so(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study()
    response = client.get(f"/v1/studies/{study['id']}/schedule", headers=owner)
    assert (response.status_code, response.json()["code"]) == (404, "no_schedule")


def test_preview_across_a_daylight_saving_change(
    client: TestClient, owner: dict, study: dict
) -> None:
    """New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist that day."""
    body = {
        "timezone": "America/New_York",
        "start_date": "2026-03-07",
        "days": 3,
        "schedule": {"fixed_times": ["02:30", "09:00"], "last_day": 10},
    }
    response = client.post(f"/v1/studies/{study['id']}/schedule/preview", json=body, headers=owner)
    assert response.status_code == 200, response.text
    local = [p["local_time"] for p in response.json()["prompts"]]
    assert local == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-07T09:00:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T09:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-09T09:00:00-04:00",
    ]
    # The slot names the schedule's time, also when the clock change moves it.
    assert response.json()["prompts"][2]["slot"] == "2026-03-08/fixed/02:30"


def test_preview_fits_prompts_into_waking_hours(
    client: TestClient, owner: dict, study: dict
) -> None:
    body = {
        "timezone": "Asia/Kolkata",
        "start_date": "2026-03-02",
        "days": 1,
        "waking_hours": {"wake": "14:00", "sleep": "23:30"},
    }
    response = client.post(f"/v1/studies/{study['id']}/schedule/preview", json=body, headers=owner)
    # The 13:00 slot is before waking: still a decision point, shown as skipped.
    assert [(p["local_time"], p["skip_reason"]) for p in response.json()["prompts"]] == [
        ("2026-03-02T13:00:00+05:30", "outside_waking_hours"),
        ("2026-03-02T18:00:00+05:30", None),
    ]


def test_waking_hours_keep_prompts_out_of_sleep(
    client: TestClient, enroll: Callable, study: dict, session: Session
) -> None:
    person = enroll(study["id"])
    assert len(_times(session, person)) == 4
    hours = {"wake": "15:00", "sleep": "23:00"}
    response = client.put("/v1/me/waking-hours", json=hours, headers=person["headers"])
    assert response.status_code == 200, response.text
    assert client.get("/v1/me/waking-hours", headers=person["headers"]).json() == {
        "wake": "15:00:00",
        "sleep": "23:00:00",
    }
    # Only the 18:00 prompts (17:00 UTC) remain.
    assert [t.hour for t in _times(session, person)] == [17, 17]


def test_a_clinician_override_is_versioned_audited_and_lifted(
    client: TestClient, owner: dict, enroll: Callable, study: dict, session: Session
) -> None:
    person = enroll(study["id"])
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/schedule-override"
    override = {"schedule": {**SCHEDULE, "fixed_times": ["20:00"]}, "reason": "Works late"}
    response = client.put(url, json=override, headers=owner)
    assert response.status_code == 200, response.text
    assert response.json()["current"]["reason"] == "Works late"
    assert [t.hour for t in _times(session, person)] == [19, 19]
    lifted = client.delete(url, params={"reason": "Back to normal"}, headers=owner).json()
    assert lifted["current"] is None
    assert [v["version"] for v in lifted["history"]] == [2, 1]
    assert [t.hour for t in _times(session, person)] == [12, 17, 12, 17]
    actions = session.exec(
        select(AuditEvent.action).where(AuditEvent.resource_id == person["id"])
    ).all()
    assert {"schedule_override.set", "schedule_override.lift"} <= set(actions)
    again = client.delete(url, params={"reason": "twice"}, headers=owner)
    assert (again.status_code, again.json()["code"]) == (404, "no_override")


def test_the_app_lists_open_prompts_and_records_opening(
    client: TestClient,
    enroll: Callable,
    study: dict,
    db: Engine,
    clock: FrozenClock,
    session: Session,
) -> None:
    person = enroll(study["id"])
    other = enroll(study["id"])
    device = {"token": "tok-1", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).is_success
    first = START.replace(hour=12)
    dispatch_once(db, LogSender(), first, "worker")
    assert client.get("/v1/me/prompts", headers=person["headers"]).json() == []
    clock.set(first + timedelta(minutes=10))
    [listed] = client.get("/v1/me/prompts", headers=person["headers"]).json()
    assert (listed["status"], listed["expires_at"]) == ("sent", "2026-03-02T13:00:00Z")
    opened = client.post(f"/v1/prompts/{listed['id']}/opened", headers=person["headers"])
    assert opened.json()["opened_at"] == "2026-03-02T12:10:00Z"
    stolen = client.post(f"/v1/prompts/{listed['id']}/opened", headers=other["headers"])
    assert (stolen.status_code, stolen.json()["code"]) == (404, "prompt_not_found")
    clock.set(first + timedelta(hours=2))
    assert client.get("/v1/me/prompts", headers=person["headers"]).json() == []


def test_compliance_per_participant_day_and_in_total(
    client: TestClient, enroll: Callable, study: dict, db: Engine, clock: FrozenClock
) -> None:
    person = enroll(study["id"])
    device = {"token": "tok-1", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).is_success
    first = START.replace(hour=12)
    dispatch_once(db, LogSender(), first, "worker")
    with Session(db) as session:
        prompt = session.exec(
            select(Prompt).where(Prompt.scheduled_at == first, Prompt.status == PromptStatus.sent)
        ).one()
        prompt.status, prompt.answered_at = PromptStatus.answered, first + timedelta(minutes=3)
        session.add(prompt)
        session.commit()
    evening = first + timedelta(hours=5)
    dispatch_once(db, LogSender(), evening, "worker")
    expire_prompts(db, evening + timedelta(hours=1))
    clock.set(evening + timedelta(hours=2))
    login = {"username": "owner@example.org", "password": PASSWORD}
    token = client.post("/v1/auth/token", data=login).json()["access_token"]
    report = client.get(
        f"/v1/studies/{study['id']}/compliance",
        params={"start": "2026-03-02", "end": "2026-03-02"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert report["days"] == [
        {
            "participant": person["pseudonym"],
            "local_date": "2026-03-02",
            "planned": 2,
            "due": 2,
            "sent": 2,
            "opened": 0,
            "answered": 1,
            "expired": 1,
            "failed": 0,
            "undeliverable": 0,
            "skipped": 0,
            "compliance": 0.5,
        }
    ]
    assert report["totals"]["compliance"] == 0.5
    assert [(d["local_date"], d["due"], d["answered"]) for d in report["study_days"]] == [
        ("2026-03-02", 2, 1)
    ]
