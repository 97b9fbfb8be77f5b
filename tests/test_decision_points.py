"""Every decision point has a row (skipped slots, unregistered devices), and a test push a
lab can send on day one, through firebase-admin over real HTTP to the fake FCM server."""

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.main import create_app
from app.push.fcm import FcmSender
from app.push.log import LogSender
from app.scheduling.dispatch import dispatch_once, expire_prompts
from app.scheduling.models import PromptAttempt
from app.scheduling.service import plan_prompts
from app.settings import Settings
from app.studies.models import Device
from tests.conftest import PASSWORD
from tests.fakes.fcm import FakeFcm, invalid_argument, quota, unregistered
from tests.test_dispatch import FIRST, HORIZON, _person, _prompts, study  # noqa: F401

# Berlin 15:00-23:00: the schedule's 13:00 falls before waking every day.
LATE_RISER = {"wake": "15:00", "sleep": "23:00"}


def _sign_in(client: TestClient) -> dict[str, str]:
    """The owner's header afresh, after the clock moved past the first token's expiry."""
    login = {"username": "owner@example.org", "password": PASSWORD}
    token = client.post("/v1/auth/token", data=login).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _statuses(session: Session, person: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    session.expire_all()
    return [(p.slot, p.status, p.status_reason) for p in _prompts(session, person)]


def test_a_fixed_time_outside_waking_hours_is_a_skipped_decision_point(
    client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    session: Session,
    db: Engine,
    owner: dict[str, str],
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    response = client.put("/v1/me/waking-hours", json=LATE_RISER, headers=person["headers"])
    assert response.status_code == 200, response.text
    assert _statuses(session, person) == [
        ("2026-03-02/fixed/13:00", "skipped", "outside_waking_hours"),
        ("2026-03-02/fixed/18:00", "planned", None),
        ("2026-03-03/fixed/13:00", "skipped", "outside_waking_hours"),
        ("2026-03-03/fixed/18:00", "planned", None),
    ]
    # Planning again, by the job or a replan, creates nothing and changes nothing.
    assert plan_prompts(session, clock.now(), HORIZON) == 0
    response = client.put("/v1/me/waking-hours", json=LATE_RISER, headers=person["headers"])
    assert response.status_code == 200
    assert len(_statuses(session, person)) == 4
    # The job plans the next day's skipped slot too.
    assert plan_prompts(session, clock.now() + timedelta(days=1), HORIZON) == 2
    assert _statuses(session, person)[4] == (
        "2026-03-04/fixed/13:00",
        "skipped",
        "outside_waking_hours",
    )

    # Dispatch never sends a skipped slot, not even when it is long due.
    assert dispatch_once(db, LogSender(), FIRST + timedelta(minutes=5), "w").outcomes == {}
    assert expire_prompts(db, FIRST + timedelta(hours=2)) == 0
    assert _statuses(session, person)[0][1] == "skipped"

    # Compliance counts it on its own, never as planned or missed.
    report = client.get(
        f"/v1/studies/{study['id']}/compliance",
        params={"start": "2026-03-02", "end": "2026-03-02"},
        headers=owner,
    ).json()["totals"]
    assert (report["planned"], report["skipped"]) == (1, 1)

    # Awake again at 13:00: the same row becomes a prompt to push; a replan keeps one row.
    early = {"wake": "08:00", "sleep": "23:00"}
    clock.set(FIRST - timedelta(hours=1))
    response = client.put("/v1/me/waking-hours", json=early, headers=person["headers"])
    assert response.status_code == 200
    statuses = _statuses(session, person)
    assert statuses[0] == ("2026-03-02/fixed/13:00", "planned", None)
    assert len({slot for slot, _, _ in statuses}) == len(statuses)


def test_the_prompts_export_and_codebook_list_skipped(
    client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    owner: dict[str, str],
) -> None:
    person = _person(client, enroll, study, None)
    client.put("/v1/me/waking-hours", json=LATE_RISER, headers=person["headers"])
    codebook = client.get(f"/v1/studies/{study['id']}/codebook", headers=owner)
    assert codebook.status_code == 200, codebook.text
    assert "skipped" in codebook.text
    rows = client.get(
        f"/v1/studies/{study['id']}/exports/prompts", params={"format": "ndjson"}, headers=owner
    )
    assert rows.status_code == 200, rows.text
    assert '"status": "skipped"' in rows.text or '"status":"skipped"' in rows.text


def test_an_unregistered_device_shows_on_the_prompt_and_in_compliance(
    client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    session: Session,
    db: Engine,
    owner: dict[str, str],
    clock: FrozenClock,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-gone")
    fake_fcm.script("tok-gone", [unregistered()])
    assert dispatch_once(db, fcm_sender, FIRST, "w").outcomes == {"unregistered": 1}
    # The prompt says so itself, and so do the others it held back.
    assert {status for _, status, _ in _statuses(session, person)} == {"planned"}
    assert {reason for _, _, reason in _statuses(session, person)} == {"device_unregistered"}
    device = session.exec(select(Device).where(Device.participant_id == uuid.UUID(person["id"])))
    assert device.one().deactivated_reason == "device_unregistered"
    # At expiry it fails and keeps the reason.
    expire_prompts(db, FIRST + timedelta(minutes=60))
    assert _statuses(session, person)[0][1:] == ("failed", "device_unregistered")

    clock.set(FIRST + timedelta(hours=1))
    report = client.get(
        f"/v1/studies/{study['id']}/compliance",
        params={"start": "2026-03-02", "end": "2026-03-02"},
        headers=_sign_in(client),
    ).json()["totals"]
    assert (report["due"], report["failed"], report["undeliverable"]) == (1, 1, 1)

    # A new registration brings the held prompts back and clears the reason.
    device_body = {"token": "tok-new", "platform": "android"}
    assert client.put("/v1/me/device", json=device_body, headers=person["headers"]).is_success
    later = _statuses(session, person)[1:]
    assert {(status, reason) for _, status, reason in later} == {("planned", None)}


# --- test push ----------------------------------------------------------------------


@pytest.fixture
def fcm_client(
    db: Engine, settings: Settings, clock: FrozenClock, fcm_sender: FcmSender
) -> Iterator[TestClient]:
    """The API with the production FCM sender pointed at the fake server."""
    with TestClient(create_app(settings, db, clock, sender=fcm_sender)) as fcm_client:
        yield fcm_client


def _test_push(
    client: TestClient, of_study: dict[str, Any], person: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return client.post(
        f"/v1/studies/{of_study['id']}/participants/{person['id']}/test-push", headers=headers
    )


def test_a_test_push_goes_through_fcm_and_is_no_prompt(
    client: TestClient,
    fcm_client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    session: Session,
    owner: dict[str, str],
    fake_fcm: FakeFcm,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-lab")
    prompts_before = _statuses(session, person)
    response = _test_push(fcm_client, study, person, owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "sent" and body["message_id"]
    assert body["error_code"] is None
    [request] = fake_fcm.requests_for("tok-lab")
    assert request.message["data"]["kind"] == "test"
    assert "prompt_id" not in request.message["data"]
    assert not request.validate_only

    # Recorded as an attempt of kind test with no prompt; no prompt was made or touched.
    [attempt] = session.exec(
        select(PromptAttempt).where(PromptAttempt.participant_id == uuid.UUID(person["id"]))
    ).all()
    assert (attempt.kind, attempt.prompt_id, attempt.outcome) == ("test", None, "sent")
    assert _statuses(session, person) == prompts_before
    report = client.get(f"/v1/studies/{study['id']}/compliance", headers=owner).json()
    assert report["totals"]["sent"] == 0
    [event] = session.exec(
        select(AuditEvent).where(AuditEvent.action == "participant.test_push")
    ).all()
    assert event.resource_id == person["id"] and event.details["result"] == "sent"
    # The attempts export carries it, as a test push.
    rows = client.get(
        f"/v1/studies/{study['id']}/exports/prompt_attempts",
        params={"format": "ndjson"},
        headers=owner,
    )
    assert rows.status_code == 200, rows.text
    assert '"test"' in rows.text


def test_a_test_push_reports_unregistered_and_fcm_errors(
    client: TestClient,
    fcm_client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    session: Session,
    owner: dict[str, str],
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-lab")
    fake_fcm.script("tok-lab", [invalid_argument(), quota(retry_after=30), unregistered()])
    first = _test_push(fcm_client, study, person, owner).json()
    assert (first["result"], first["error_code"], first["message_id"]) == (
        "failed",
        "INVALID_ARGUMENT",
        None,
    )
    # A transient answer is not retried for a test: it is reported with FCM's code.
    second = _test_push(fcm_client, study, person, owner).json()
    assert (second["result"], second["error_code"]) == ("failed", "QUOTA_EXCEEDED")
    third = _test_push(fcm_client, study, person, owner).json()
    assert (third["result"], third["error_code"]) == ("unregistered", "UNREGISTERED")
    # As during dispatch: the device is off and the open prompts say why.
    session.expire_all()
    device = session.exec(select(Device).where(Device.participant_id == uuid.UUID(person["id"])))
    assert not device.one().active
    assert {reason for _, _, reason in _statuses(session, person)} == {"device_unregistered"}
    assert len(fake_fcm.requests_for("tok-lab")) == 3
    # Now there is no active device: 409, and nothing is sent.
    refused = _test_push(fcm_client, study, person, owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "no_active_device"
    assert len(fake_fcm.requests_for("tok-lab")) == 3
    kinds = session.exec(
        select(PromptAttempt.kind).where(col(PromptAttempt.prompt_id).is_(None))
    ).all()
    assert kinds == ["test", "test", "test"]


def test_test_push_roles(
    client: TestClient,
    fcm_client: TestClient,
    enroll: Callable[..., dict[str, Any]],
    study: dict[str, Any],  # noqa: F811
    owner: dict[str, str],
    make_staff: Callable[..., dict[str, str]],
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-lab")
    for role, expected in (("clinician", 200), ("researcher", 200), ("viewer", 403)):
        email = f"{role}@example.org"
        headers = make_staff(email)
        member = {"email": email, "role": role}
        assert client.put(f"/v1/studies/{study['id']}/members", json=member, headers=owner)
        assert _test_push(fcm_client, study, person, headers).status_code == expected
    stranger = make_staff("stranger@example.org")
    assert _test_push(fcm_client, study, person, stranger).status_code == 404
    assert len(fake_fcm.requests_for("tok-lab")) == 2
