"""The participants page against what the API says: last check-in, 7-day compliance equal to
the compliance report's, filters and pages; the roles of the studies and participants
pages; nothing half-written when a form is refused."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.clock import FrozenClock
from app.push.log import LogSender
from app.scheduling.dispatch import dispatch_once
from app.scheduling.models import Prompt
from app.studies.models import Participant, Study
from tests.conftest import PASSWORD
from tests.console_client import console_sign_in
from tests.test_checkins import BASE, checkin
from tests.test_schedules_api import SCHEDULE


def _row(html: str, pseudonym: str) -> str:
    found = re.search(
        rf"<tr>\s*<td>(<a [^>]*>)?{re.escape(pseudonym)}(</a>)?</td>.*?</tr>", html, re.S
    )
    assert found, f"no row for {pseudonym}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group()))


def test_the_list_shows_the_last_check_in_and_the_compliance_of_the_report(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    db: Engine,
    session: Session,
    clock: FrozenClock,
) -> None:
    study = make_study()
    saved = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": SCHEDULE}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    answering, silent = enroll(study["id"]), enroll(study["id"])
    answering_id = uuid.UUID(answering["id"])
    device = {"token": "tok-1", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=answering["headers"]).is_success
    first = session.exec(
        select(Prompt.scheduled_at)
        .where(Prompt.participant_id == answering_id)
        .order_by(col(Prompt.scheduled_at))
    ).first()
    assert first is not None
    dispatch_once(db, LogSender(), first, "worker")
    prompt_id = session.exec(
        select(Prompt.id).where(Prompt.participant_id == answering_id, Prompt.sent_at == first)
    ).one()
    answered_at = first + timedelta(minutes=3)
    clock.set(answered_at)
    body = {**checkin(BASE, prompt_id=str(prompt_id)), "answered_at": answered_at.isoformat()}
    assert client.post("/v1/checkins", json=body, headers=answering["headers"]).status_code == 201
    clock.set(first + timedelta(days=1))

    # The owner's API token has expired by now: a fresh one.
    login = {"username": "owner@example.org", "password": PASSWORD}
    token = client.post("/v1/auth/token", data=login).json()["access_token"]
    report = client.get(
        f"/v1/studies/{study['id']}/compliance", headers={"Authorization": f"Bearer {token}"}
    ).json()
    days = [d for d in report["days"] if d["participant"] == answering["pseudonym"]]
    answered, due = sum(d["answered"] for d in days), sum(d["due"] for d in days)
    assert answered == 1 and due > 1

    client.headers.pop("Authorization", None)
    console_sign_in(client, "owner@example.org")
    page = client.get(f"/console/studies/{study['id']}/participants")
    assert page.status_code == 200
    row = _row(page.text, answering["pseudonym"])
    local = answered_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.strftime("%Y-%m-%d %H:%M") in row
    assert f"{round(100 * answered / due)}% ({answered} of {due} answered)" in row
    assert "compliance poor" in page.text or "compliance fair" in page.text
    assert "never" in _row(page.text, silent["pseudonym"])


def test_filters_and_pages(
    client: TestClient,
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    owner: dict[str, str],
) -> None:
    study = make_study()
    enrolled = enroll(study["id"], pseudonym="ALPHA-1")
    invited = client.post(
        f"/v1/studies/{study['id']}/participants",
        json={"timezone": "Europe/Berlin", "pseudonym": "beta-2"},
        headers=owner,
    )
    assert invited.status_code == 201
    client.headers.pop("Authorization", None)
    console_sign_in(client, "owner@example.org")
    base = f"/console/studies/{study['id']}/participants"

    def shown(query: str) -> list[str]:
        html = client.get(f"{base}?{query}").text
        return re.findall(r"<tr>\s*<td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td>", html)

    assert sorted(shown("")) == ["ALPHA-1", "beta-2"]
    assert shown("status=invited") == ["beta-2"]
    assert shown("pseudonym=alpha") == ["ALPHA-1"]
    arm = client.get(f"/v1/studies/{study['id']}/participants/{enrolled['id']}", headers=owner)
    arm_key = arm.json()["arm"]
    assert shown(f"arm={arm_key}") == ["ALPHA-1"]
    first = client.get(f"{base}?limit=1")
    assert 'href="?offset=1&amp;limit=1" rel="next"' in first.text
    pages = shown("offset=0&limit=1") + shown("offset=1&limit=1")
    assert sorted(pages) == ["ALPHA-1", "beta-2"]
    assert 'rel="next"' not in client.get(f"{base}?offset=1&limit=1").text
    refused = client.get(f"{base}?status=lost")
    assert refused.status_code == 422
    assert "Input should be" in refused.text and 'aria-invalid="true"' in refused.text


def test_a_refused_participant_form_writes_nothing_and_keeps_what_was_typed(
    client: TestClient,
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    session: Session,
) -> None:
    study = make_study()
    enroll(study["id"], pseudonym="TAKEN")
    client.headers.pop("Authorization", None)
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/participants/new"
    taken = client.post(
        url, data={"csrf_token": token, "pseudonym": "TAKEN", "timezone": "Europe/Berlin"}
    )
    assert taken.status_code == 409
    assert "is taken in this study" in taken.text
    assert 'value="TAKEN"' in taken.text
    bad = client.post(url, data={"csrf_token": token, "pseudonym": "NEW", "timezone": "Moon"})
    assert bad.status_code == 422
    assert 'id="f-timezone-error"' in bad.text and 'value="NEW"' in bad.text
    pseudonyms = session.exec(
        select(Participant.pseudonym).where(Participant.study_id == uuid.UUID(study["id"]))
    ).all()
    assert pseudonyms == ["TAKEN"]


def test_only_owners_activate_and_a_checklist_says_what_is_missing(
    client: TestClient,
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
    owner: dict[str, str],
    session: Session,
) -> None:
    study = make_study(activate=False, arms=[], block_size=None)
    make_staff("researcher@example.org")
    member = {"email": "researcher@example.org", "role": "researcher"}
    assert client.put(f"/v1/studies/{study['id']}/members", json=member, headers=owner).is_success
    client.headers.pop("Authorization", None)
    overview = f"/console/studies/{study['id']}"

    token = console_sign_in(client, "researcher@example.org")
    assert "Activate study" not in client.get(overview).text
    assert client.post(f"{overview}/activate", data={"csrf_token": token}).status_code == 403
    client.post("/console/sign-out", data={"csrf_token": token})

    token = console_sign_in(client, "owner@example.org")
    page = client.get(overview).text
    assert "Missing: A study needs at least one arm" in page
    refused = client.post(f"{overview}/activate", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "The study is not complete" in refused.text
    assert "A study needs at least one arm" in refused.text
    assert session.get_one(Study, uuid.UUID(study["id"])).status == "draft"
