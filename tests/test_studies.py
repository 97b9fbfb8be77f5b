from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from tests.conftest import STUDY


def test_create_read_and_list_only_my_studies(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable
) -> None:
    mine = make_study(activate=False)
    assert mine["status"] == "draft"
    assert mine["my_role"] == "owner"
    assert [arm["key"] for arm in mine["arms"]] == ["assessment", "random", "tailored"]
    assert len(mine["randomization_seed"]) == 32
    other = make_staff()
    make_study(activate=False, headers=other, name="Someone else's")
    listed = client.get("/v1/studies", headers=owner).json()
    assert [s["id"] for s in listed["items"]] == [mine["id"]]
    assert listed["next_offset"] is None
    assert client.get(f"/v1/studies/{mine['id']}", headers=owner).json()["name"] == STUDY["name"]


def test_list_is_paginated_with_a_cap(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    for n in range(3):
        make_study(activate=False, name=f"Study {n}")
    first = client.get("/v1/studies?limit=2", headers=owner).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = client.get("/v1/studies?limit=2&offset=2", headers=owner).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    too_many = client.get("/v1/studies?limit=201", headers=owner)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "query.limit"


def test_update_only_while_draft(client: TestClient, owner: dict, make_study: Callable) -> None:
    study = make_study(activate=False)
    changed = client.patch(
        f"/v1/studies/{study['id']}", json={"name": "Renamed", "block_size": 6}, headers=owner
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed" and changed.json()["block_size"] == 6
    client.post(f"/v1/studies/{study['id']}/activate", headers=owner)
    refused = client.patch(f"/v1/studies/{study['id']}", json={"name": "Again"}, headers=owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "study_not_draft"


def test_stratify_by_is_fixed_once_the_study_has_participants(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(activate=False)
    url = f"/v1/studies/{study['id']}"
    before = client.patch(url, json={"stratify_by": ["site"]}, headers=owner)
    assert before.status_code == 200 and before.json()["stratify_by"] == ["site"]
    created = client.post(
        f"{url}/participants", json={"timezone": "UTC", "strata": {"site": "north"}}, headers=owner
    )
    refused = client.patch(url, json={"stratify_by": ["site", "sex"]}, headers=owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "stratification_fixed"
    # Sending the factors it has already is no change.
    same = client.patch(url, json={"stratify_by": ["site"], "name": "Same"}, headers=owner)
    assert same.status_code == 200 and same.json()["stratify_by"] == ["site"]
    client.post(f"{url}/activate", headers=owner)
    code = created.json()["enrollment"]["code"]
    assert client.post("/v1/enroll", json={"code": code}).status_code == 201


def test_activation_checks_the_study_is_complete(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    no_arms = make_study(activate=False, arms=[])
    refused = client.post(f"/v1/studies/{no_arms['id']}/activate", headers=owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "study_incomplete"
    assert refused.json()["errors"][0]["field"] == "arms"
    # Fits the three arms when given (3 x 2); the fourth arm added since does not fit.
    bad_block = make_study(activate=False, block_size=6)
    added = client.post(
        f"/v1/studies/{bad_block['id']}/arms", json={"key": "d", "policy": "random"}, headers=owner
    )
    assert added.status_code == 201, added.text
    refused = client.post(f"/v1/studies/{bad_block['id']}/activate", headers=owner)
    assert refused.json()["errors"][0]["field"] == "block_size"
    assert client.get(f"/v1/studies/{bad_block['id']}", headers=owner).json()["status"] == "draft"


def test_study_lifecycle_draft_active_closed(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(activate=False)
    assert client.post(f"/v1/studies/{study['id']}/close", headers=owner).status_code == 409
    active = client.post(f"/v1/studies/{study['id']}/activate", headers=owner).json()
    assert active["status"] == "active" and active["activated_at"]
    assert client.post(f"/v1/studies/{study['id']}/activate", headers=owner).status_code == 409
    closed = client.post(f"/v1/studies/{study['id']}/close", headers=owner).json()
    assert closed["status"] == "closed" and closed["closed_at"]


def test_arms_are_edited_in_draft(client: TestClient, owner: dict, make_study: Callable) -> None:
    study = make_study(activate=False, arms=[])
    base = f"/v1/studies/{study['id']}/arms"
    assert (
        client.post(
            base, json={"key": "tailored", "policy": "tailored", "weight": 2}, headers=owner
        ).status_code
        == 201
    )
    duplicate = client.post(base, json={"key": "tailored", "policy": "random"}, headers=owner)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "arm_exists"
    changed = client.patch(f"{base}/tailored", json={"weight": 3}, headers=owner)
    assert changed.json()["weight"] == 3
    assert client.patch(f"{base}/missing", json={"weight": 3}, headers=owner).status_code == 404
    assert client.delete(f"{base}/tailored", headers=owner).status_code == 204
    assert client.get(f"/v1/studies/{study['id']}", headers=owner).json()["arms"] == []


def test_duplicate_arm_keys_in_create_name_the_field(client: TestClient, owner: dict) -> None:
    body = {**STUDY, "arms": [{"key": "a", "policy": "random"}, {"key": "a", "policy": "tailored"}]}
    response = client.post("/v1/studies", json=body, headers=owner)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.arms[1].key"


def test_owners_manage_members(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable
) -> None:
    study = make_study(activate=False)
    clinician = make_staff("clin@example.org")
    base = f"/v1/studies/{study['id']}/members"
    added = client.put(base, json={"email": "CLIN@example.org", "role": "clinician"}, headers=owner)
    assert added.status_code == 200 and added.json()["role"] == "clinician"
    assert (
        client.get(f"/v1/studies/{study['id']}", headers=clinician).json()["my_role"] == "clinician"
    )
    # A clinician cannot add members; the study exists for them, so 403, not 404.
    refused = client.put(
        base, json={"email": "owner@example.org", "role": "viewer"}, headers=clinician
    )
    assert refused.status_code == 403
    unknown = client.put(base, json={"email": "ghost@example.org", "role": "viewer"}, headers=owner)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.email"
    members = client.get(base, headers=owner).json()
    assert {m["email"] for m in members["items"]} == {"owner@example.org", "clin@example.org"}
    assert client.delete(f"{base}/Clin@example.org", headers=owner).status_code == 204
    assert client.delete(f"{base}/clin@example.org", headers=owner).status_code == 404
    assert client.get(f"/v1/studies/{study['id']}", headers=clinician).status_code == 404


def test_members_are_listed_page_by_page(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable, clock: FrozenClock
) -> None:
    study = make_study(activate=False)
    base = f"/v1/studies/{study['id']}/members"
    for name in ("ana", "ben", "cleo"):
        make_staff(f"{name}@example.org")
        clock.advance(timedelta(seconds=1))
        client.put(base, json={"email": f"{name}@example.org", "role": "viewer"}, headers=owner)
    first = client.get(base, params={"limit": 2}, headers=owner).json()
    assert [m["email"] for m in first["items"]] == ["owner@example.org", "ana@example.org"]
    assert first["next_offset"] == 2
    rest = client.get(base, params={"limit": 2, "offset": 2}, headers=owner).json()
    assert [m["email"] for m in rest["items"]] == ["ben@example.org", "cleo@example.org"]
    assert rest["next_offset"] is None


def test_the_last_owner_stays(client: TestClient, owner: dict, make_study: Callable) -> None:
    study = make_study(activate=False)
    base = f"/v1/studies/{study['id']}/members"
    assert client.delete(f"{base}/owner@example.org", headers=owner).json()["code"] == "last_owner"
    demoted = client.put(base, json={"email": "owner@example.org", "role": "viewer"}, headers=owner)
    assert demoted.status_code == 409


def test_staff_mutations_are_audited_and_owners_list_them(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable, session: Session
) -> None:
    study = make_study()
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner)
    assert events.status_code == 200
    actions = [e["action"] for e in events.json()["items"]]
    assert actions == ["study.activate", "study.create"]
    event = events.json()["items"][0]
    me = client.get("/v1/users/me", headers=owner).json()
    assert event["actor_type"] == "staff" and event["actor_id"] == me["id"]
    assert event["request_id"]
    stored = session.exec(select(AuditEvent).where(AuditEvent.action == "study.activate")).one()
    assert stored.resource_id == study["id"]
    researcher = make_staff("res@example.org")
    client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": "res@example.org", "role": "researcher"},
        headers=owner,
    )
    assert (
        client.get(f"/v1/studies/{study['id']}/audit-events", headers=researcher).status_code == 403
    )
