"""Participant data rights: withdrawal keeps data, erasure leaves a tombstone only, access."""

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Text, cast, func, select
from sqlmodel import Session

from app.clock import FrozenClock
from app.db import metadata
from app.studies.data_rights import RETAINED, personal_tables
from app.studies.models import Participant
from tests.conftest import START
from tests.test_checkins import FUSED, checkin
from tests.test_exports import add_prompts, with_every_item_type


def rows_by_table(session: Session, participant_id: str) -> dict[str, int]:
    return {
        table.name: session.execute(
            select(func.count()).select_from(table).where(condition)
        ).scalar_one()
        for table, condition in personal_tables(uuid.UUID(participant_id)).items()
    }


@pytest.fixture
def world(
    client: TestClient,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
) -> dict[str, Any]:
    study = make_study(stratify_by=["site"])
    people = [
        enroll(study["id"], pseudonym=name, strata={"site": "north"}, external_ref=f"{name}@x.org")
        for name in ("P-ERASE", "P-KEEP")
    ]
    for n, person in enumerate(people):
        add_prompts(session, study["id"], person["id"], 2)
        client.put(
            "/v1/me/device",
            json={"token": f"device-{n}", "platform": "ios"},
            headers=person["headers"],
        )
    clock.set(START + timedelta(minutes=2))
    for n, person in enumerate(people):
        for answers in (FUSED, {**FUSED, "risk": 85}):
            body = checkin(answers, client_id=f"{n}-{answers['risk']}")
            posted = client.post("/v1/checkins", json=body, headers=person["headers"])
            assert posted.status_code == 201, posted.text
    return {"study": study["id"], "erase": people[0], "keep": people[1]}


def erase(client: TestClient, world: dict, headers: dict, pseudonym: str) -> Any:
    return client.post(
        f"/v1/studies/{world['study']}/participants/{world['erase']['id']}/erase",
        json={"pseudonym": pseudonym},
        headers=headers,
    )


def test_withdrawal_keeps_the_data_in_exports(
    client: TestClient, owner: dict, world: dict, session: Session
) -> None:
    before = rows_by_table(session, world["erase"]["id"])
    client.post(
        f"/v1/studies/{world['study']}/participants/{world['erase']['id']}/status",
        json={"status": "withdrawn"},
        headers=owner,
    )
    after = rows_by_table(session, world["erase"]["id"])
    assert after == before and after["prompt"] == 2 and after["device"] == 1
    exported = client.get(f"/v1/studies/{world['study']}/exports/prompts", headers=owner).text
    assert exported.count("P-ERASE") == 2


def test_erasure_removes_the_person_everywhere_and_keeps_a_tombstone(
    client: TestClient, owner: dict, world: dict, session: Session
) -> None:
    kept_before = rows_by_table(session, world["keep"]["id"])
    before = rows_by_table(session, world["erase"]["id"])
    assert before["prompt"] == 2 and before["checkin"] == 2 and before["safety_event"] == 1
    assert before["detection"] == 2 and before["delivery"] == 2
    response = erase(client, world, owner, "P-ERASE")
    assert response.status_code == 200, response.text
    assert response.json()["erased_at"] is not None
    assert response.json()["status"] == "withdrawn" and response.json()["external_ref"] is None
    # Nothing of the person is left in any table but the trial record.
    left = rows_by_table(session, world["erase"]["id"])
    assert {name: count for name, count in left.items() if count} == dict.fromkeys(RETAINED, 1)
    assert rows_by_table(session, world["keep"]["id"]) == kept_before
    tombstone = session.get(Participant, uuid.UUID(world["erase"]["id"]))
    assert tombstone is not None and tombstone.pseudonym == "P-ERASE"
    assert tombstone.strata == {} and tombstone.external_ref is None
    # The erased person's token no longer works; the other person's does.
    assert client.get("/v1/me", headers=world["erase"]["headers"]).status_code == 401
    assert client.get("/v1/me", headers=world["keep"]["headers"]).status_code == 200
    # Exports show the tombstone as erased.
    exported = client.get(f"/v1/studies/{world['study']}/exports/participants", headers=owner)
    rows = {row["participant"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert rows["P-ERASE"]["erased"] == "true" and rows["P-ERASE"]["stratum_site"] == ""
    assert rows["P-KEEP"]["erased"] == "false" and rows["P-KEEP"]["stratum_site"] == "north"
    prompts = client.get(f"/v1/studies/{world['study']}/exports/prompts", headers=owner).text
    assert "P-ERASE" not in prompts and prompts.count("P-KEEP") == 2
    # Idempotent: a second request changes nothing and is not a second erasure.
    again = erase(client, world, owner, "P-ERASE")
    assert again.status_code == 200 and again.json()["erased_at"] == response.json()["erased_at"]
    events = client.get(
        f"/v1/studies/{world['study']}/audit-events?action=participant.erase", headers=owner
    ).json()["items"]
    removed = events[0]["details"]["rows_removed"]
    assert len(events) == 1 and removed["prompt"] == 2 and removed["prompt_attempt"] == 1


def test_erasure_needs_the_pseudonym_and_a_managing_role(
    client: TestClient, owner: dict, world: dict, make_staff: Callable, session: Session
) -> None:
    before = rows_by_table(session, world["erase"]["id"])
    wrong = erase(client, world, owner, "P-KEEP")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.pseudonym"
    clinician = make_staff("clin@example.org")
    client.put(
        f"/v1/studies/{world['study']}/members",
        json={"email": "clin@example.org", "role": "clinician"},
        headers=owner,
    )
    assert erase(client, world, clinician, "P-ERASE").status_code == 403
    assert rows_by_table(session, world["erase"]["id"]) == before


def test_erasure_covers_every_table_that_refers_to_a_participant() -> None:
    referring = {
        table.name
        for table in metadata.sorted_tables
        if "participant_id" in table.c
        or any(key.column.table.name == "participant" for key in table.foreign_keys)
    }
    covered = {table.name for table in personal_tables(uuid.uuid4())}
    assert referring and referring <= covered


def test_a_participant_downloads_all_their_data(
    client: TestClient, owner: dict, world: dict
) -> None:
    response = client.get("/v1/me/data", headers=world["erase"]["headers"])
    assert response.status_code == 200
    data = response.json()
    assert data["participant"]["pseudonym"] == "P-ERASE"
    assert data["participant"]["external_ref"] == "P-ERASE@x.org"
    tables = data["tables"]
    assert len(tables["prompt"]) == 2 and tables["device"][0]["identifier"] == "device-0"
    assert len(tables["allocation"]) == 1
    assert "P-KEEP" not in response.text and "device-1" not in response.text
    assert "token_hash" not in response.text and "code_hash" not in response.text
    events = client.get(
        f"/v1/studies/{world['study']}/audit-events?action=participant.data_access", headers=owner
    ).json()["items"]
    assert events[0]["actor_id"] == world["erase"]["id"]


def test_erasure_empties_the_audit_details_by_or_about_the_person(
    client: TestClient, owner: dict, world: dict
) -> None:
    study = world["study"]
    for person in (world["erase"], world["keep"]):
        hours = {"wake": "06:45", "sleep": "22:15"}
        assert client.put("/v1/me/waking-hours", json=hours, headers=person["headers"]).is_success
        paused = client.post(
            f"/v1/studies/{study}/participants/{person['id']}/status",
            json={"status": "paused", "reason": f"in hospital ({person['pseudonym']})"},
            headers=owner,
        )
        assert paused.status_code == 200, paused.text
    assert erase(client, world, owner, "P-ERASE").status_code == 200
    events = client.get(f"/v1/studies/{study}/audit-events?limit=200", headers=owner).json()
    about = {"erase": [], "keep": []}
    for event in events["items"]:
        for who in about:
            if world[who]["id"] in (event["actor_id"], event["resource_id"]):
                about[who].append(event)
    erased = [e for e in about["erase"] if e["action"] != "participant.erase"]
    # The record of who did what stays; what it said about the person goes.
    assert {"participant.waking_hours", "participant.status"} <= {e["action"] for e in erased}
    assert all(event["details"] == {} for event in erased)
    text = str(events)
    assert "in hospital (P-ERASE)" not in text and "06:45" in text  # the other person's stays
    assert "in hospital (P-KEEP)" in text
    erasure = next(e for e in about["erase"] if e["action"] == "participant.erase")
    assert erasure["details"]["audit_events_cleared"] == len(erased)


def test_erasure_empties_the_audit_details_of_a_phone_that_moved_away(
    client: TestClient, owner: dict, world: dict
) -> None:
    """P-ERASE's phone now belongs to P-KEEP: the device.moved event, by P-KEEP, names
    P-ERASE in its details until P-ERASE is erased."""
    moved = client.put(
        "/v1/me/device",
        json={"token": "device-0", "platform": "ios"},
        headers=world["keep"]["headers"],
    )
    assert moved.is_success, moved.text
    url = f"/v1/studies/{world['study']}/audit-events?limit=200"

    def moved_events() -> list[dict]:
        events = client.get(url, headers=owner).json()["items"]
        return [event for event in events if event["action"] == "device.moved"]

    assert [e["details"] for e in moved_events()] == [{"from_participant": world["erase"]["id"]}]
    assert erase(client, world, owner, "P-ERASE").status_code == 200
    [event] = moved_events()
    assert event["details"] == {} and event["actor_id"] == world["keep"]["id"]


NOTE, REASON, OWN_SKILL = "Purple-elephant-9931", "Zanzibar-retreat-4711", "Ring-Greta-5520"
VALUE, SUPPORT, REVIEW_NOTE = "Kayak-with-Lotte-2208", "Uncle-Bram-by-phone-6604", "Okapi-plan-3390"
WAKE, SLEEP = "06:47", "22:13"


def test_erasure_leaves_no_trace_of_the_persons_words_in_any_table(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
) -> None:
    """A free-text answer, waking hours, a status reason, a skill written for the person,
    their plan (two versions, by them and by staff) and a clinician's review note go in
    through the API; after erasure no column of any table holds them."""
    study = with_every_item_type(client, owner, make_study(activate=False))
    person = enroll(study["id"], pseudonym="P-ERASE")
    other = enroll(study["id"], pseudonym="P-KEEP")
    headers = person["headers"]
    base = f"/v1/studies/{study['id']}/participants/{person['id']}"
    hours = {"wake": WAKE, "sleep": SLEEP}
    assert client.put("/v1/me/waking-hours", json=hours, headers=headers).is_success
    skill = {
        "key": "ring_a_friend",
        "title": OWN_SKILL,
        "steps": [OWN_SKILL],
        "duration_seconds": 60,
        "targets": ["cognitive_fusion"],
    }
    assert client.put(
        f"{base}/personalization", json={"extra_skills": [skill]}, headers=owner
    ).is_success
    plan = {"sections": {"values": [{"text": VALUE}], "supports": [{"text": SUPPORT}]}}
    assert client.put("/v1/me/plan", json=plan, headers=headers).is_success
    plan["sections"]["strategies"] = [{"text": f"{VALUE} again", "pole": "cognitive_fusion"}]
    assert client.put(f"{base}/plan", json=plan, headers=owner).is_success
    settings = {"min_checkins": 2}
    assert client.put(f"/v1/studies/{study['id']}/review-settings", json=settings, headers=owner)
    clock.set(START + timedelta(minutes=2))
    for who, note in ((person, NOTE), (person, "again"), (other, "nothing to add")):
        body = checkin({**FUSED, "note": note, "where": "home"})
        posted = client.post("/v1/checkins", json=body, headers=who["headers"])
        assert posted.status_code == 201, posted.text
    cleared = client.post(f"{base}/review-flag/clear", json={"note": REVIEW_NOTE}, headers=owner)
    assert cleared.status_code == 200, cleared.text
    for status, reason in (("paused", REASON), ("active", f"back from {REASON}")):
        changed = client.post(
            f"{base}/status", json={"status": status, "reason": reason}, headers=owner
        )
        assert changed.status_code == 200, changed.text
    distinctive = (NOTE, REASON, OWN_SKILL, WAKE, SLEEP, VALUE, SUPPORT, REVIEW_NOTE)

    def traces() -> set[str]:
        found = set()
        for table in metadata.sorted_tables:
            cells = [cast(column, Text) for column in table.columns]
            for row in session.execute(select(*cells)):
                found |= {word for word in distinctive for cell in row if cell and word in cell}
        return found

    assert traces() == set(distinctive)  # the scan sees every one of them before
    mine = client.get("/v1/me/data", headers=headers).json()["tables"]["plan_version"]
    assert len(mine) == 2 and SUPPORT in str(mine)  # the plan, every version, is theirs
    assert erase(client, {"study": study["id"], "erase": person}, owner, "P-ERASE").is_success
    session.expire_all()
    assert traces() == set()
    assert "nothing to add" in str(client.get("/v1/me/data", headers=other["headers"]).json())
