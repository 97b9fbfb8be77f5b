from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.clock import FrozenClock
from app.digest import secret_digest
from app.settings import Settings
from app.studies.models import Device, EnrollmentCode, Participant, ParticipantToken


def create(client: TestClient, study_id: str, headers: dict, **fields) -> dict:
    response = client.post(
        f"/v1/studies/{study_id}/participants",
        json={"timezone": "America/New_York", **fields},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_researcher_creates_a_participant_with_a_one_time_code(
    client: TestClient, owner: dict, make_study: Callable, session: Session, settings: Settings
) -> None:
    study = make_study()
    created = create(client, study["id"], owner, pseudonym="P-001", external_ref="chart 17")
    assert created["status"] == "invited" and created["arm"] is None
    assert created["pseudonym"] == "P-001"
    code = created["enrollment"]["code"]
    stored = session.exec(select(EnrollmentCode)).one()
    assert stored.code_hash == secret_digest(code) and code not in stored.code_hash
    assert stored.expires_at - stored.created_at == timedelta(hours=settings.enrollment_code_hours)
    again = client.get(f"/v1/studies/{study['id']}/participants/{created['id']}", headers=owner)
    assert "enrollment" not in again.json()


def test_pseudonyms_are_generated_and_unique_per_study(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study()
    generated = create(client, study["id"], owner)
    assert generated["pseudonym"].startswith("P-")
    create(client, study["id"], owner, pseudonym="P-001")
    taken = client.post(
        f"/v1/studies/{study['id']}/participants",
        json={"timezone": "UTC", "pseudonym": "P-001"},
        headers=owner,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "pseudonym_taken"


def test_enrollment_allocates_an_arm_and_returns_a_participant_token(
    client: TestClient, owner: dict, make_study: Callable, session: Session
) -> None:
    study = make_study()
    created = create(client, study["id"], owner)
    code = created["enrollment"]["code"]
    enrolled = client.post("/v1/enroll", json={"code": code.lower().replace("-", " ")})
    assert enrolled.status_code == 201, enrolled.text
    token = enrolled.json()["token"]
    assert token.startswith("kp_")
    assert session.exec(select(ParticipantToken)).one().token_hash == secret_digest(token)
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["status"] == "active" and me["locale"] == "en"
    read = client.get(f"/v1/studies/{study['id']}/participants/{created['id']}", headers=owner)
    assert read.json()["arm"] in {"tailored", "random", "assessment"}
    # Single use.
    again = client.post("/v1/enroll", json={"code": code})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "body.code"


def test_expired_and_replaced_codes_do_not_enroll(
    client: TestClient, owner: dict, make_study: Callable, clock: FrozenClock, settings: Settings
) -> None:
    study = make_study()
    created = create(client, study["id"], owner)
    first = created["enrollment"]["code"]
    reissued = client.post(
        f"/v1/studies/{study['id']}/participants/{created['id']}/enrollment-code", headers=owner
    )
    assert reissued.status_code == 201
    assert client.post("/v1/enroll", json={"code": first}).json()["code"] == "invalid_code"
    clock.advance(timedelta(hours=settings.enrollment_code_hours))
    expired = client.post("/v1/enroll", json={"code": reissued.json()["code"]})
    assert expired.json()["code"] == "invalid_code"


def test_enrollment_needs_an_active_study(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(activate=False)
    created = create(client, study["id"], owner)
    refused = client.post("/v1/enroll", json={"code": created["enrollment"]["code"]})
    assert refused.status_code == 409 and refused.json()["code"] == "study_not_active"


def test_withdrawal_revokes_tokens_at_once_and_keeps_data(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
) -> None:
    study = make_study()
    person = enroll(study["id"])
    client.put(
        "/v1/me/device", json={"token": "fcm-1", "platform": "android"}, headers=person["headers"]
    )
    assert client.get("/v1/me", headers=person["headers"]).status_code == 200
    withdrawn = client.post(
        f"/v1/studies/{study['id']}/participants/{person['id']}/status",
        json={"status": "withdrawn", "reason": "asked to stop"},
        headers=owner,
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    refused = client.get("/v1/me", headers=person["headers"])
    # Told why, so that the app can say so and stop.
    assert refused.status_code == 401 and refused.json()["code"] == "participant_withdrawn"
    # Revoked in the database, not only refused while the status says withdrawn.
    [token] = session.exec(select(ParticipantToken)).all()
    assert token.revoked_at == clock.now()
    assert session.exec(select(Participant)).one().pseudonym == person["pseudonym"]
    assert session.exec(select(Device)).one().active is False


def test_status_transitions_that_make_no_sense_are_409(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    study = make_study()
    invited = create(client, study["id"], owner)
    base = f"/v1/studies/{study['id']}/participants"
    refused = client.post(
        f"{base}/{invited['id']}/status", json={"status": "paused"}, headers=owner
    )
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    person = enroll(study["id"])
    for status, expected in [("paused", 200), ("active", 200), ("completed", 200), ("active", 409)]:
        response = client.post(
            f"{base}/{person['id']}/status", json={"status": status}, headers=owner
        )
        assert response.status_code == expected, (status, response.text)


def test_arm_is_concealed_from_clinicians_unless_the_study_allows(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable, enroll: Callable
) -> None:
    clinician = make_staff("clin@example.org")
    for allowed in (False, True):
        study = make_study(clinicians_see_arm=allowed)
        client.put(
            f"/v1/studies/{study['id']}/members",
            json={"email": "clin@example.org", "role": "clinician"},
            headers=owner,
        )
        person = enroll(study["id"])
        seen = client.get(
            f"/v1/studies/{study['id']}/participants/{person['id']}", headers=clinician
        )
        assert seen.json()["arm_concealed"] is not allowed
        assert (seen.json()["arm"] is not None) is allowed
        listed = client.get(f"/v1/studies/{study['id']}/participants", headers=clinician).json()
        assert (listed["items"][0]["arm"] is not None) is allowed
        assert (
            client.get(f"/v1/studies/{study['id']}", headers=clinician).json()["randomization_seed"]
            is None
        )
        allocations = client.get(f"/v1/studies/{study['id']}/allocations", headers=clinician)
        assert allocations.status_code == 403


def test_device_registration_moves_a_token_between_participants(
    client: TestClient, make_study: Callable, enroll: Callable, session: Session
) -> None:
    study = make_study()
    first, second = enroll(study["id"]), enroll(study["id"])
    registered = client.put(
        "/v1/me/device",
        json={"token": "shared-phone", "platform": "ios", "kind": "fid"},
        headers=first["headers"],
    )
    assert registered.status_code == 200
    assert registered.json() == {
        **registered.json(),
        "platform": "ios",
        "kind": "fid",
        "active": True,
    }
    refreshed = client.put(
        "/v1/me/device", json={"token": "new-token", "platform": "ios"}, headers=first["headers"]
    )
    assert refreshed.status_code == 200
    assert session.exec(select(func.count()).select_from(Device)).one() == 1
    client.put(
        "/v1/me/device",
        json={"token": "new-token", "platform": "android"},
        headers=second["headers"],
    )
    devices = session.exec(select(Device)).all()
    assert [(str(d.participant_id), d.identifier) for d in devices] == [(second["id"], "new-token")]
    assert client.delete("/v1/me/device", headers=first["headers"]).status_code == 404
    assert client.delete("/v1/me/device", headers=second["headers"]).status_code == 204
    assert session.exec(select(func.count()).select_from(Device)).one() == 0


def test_strata_must_match_the_study(client: TestClient, owner: dict, make_study: Callable) -> None:
    study = make_study(stratify_by=["site"])
    base = f"/v1/studies/{study['id']}/participants"
    missing = client.post(base, json={"timezone": "UTC"}, headers=owner)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.strata.site"
    extra = client.post(
        base, json={"timezone": "UTC", "strata": {"site": "a", "sex": "f"}}, headers=owner
    )
    assert extra.json()["errors"][0]["field"] == "body.strata.sex"
    assert (
        client.post(
            base, json={"timezone": "UTC", "strata": {"site": "a"}}, headers=owner
        ).status_code
        == 201
    )


def test_staff_and_the_participant_update_time_zone_and_locale(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, session: Session
) -> None:
    study = make_study()
    person = enroll(study["id"])
    path = f"/v1/studies/{study['id']}/participants/{person['id']}"
    changed = client.patch(path, json={"locale": "es", "external_ref": None}, headers=owner)
    assert changed.status_code == 200
    assert changed.json()["locale"] == "es" and changed.json()["timezone"] == "Europe/Berlin"
    me = client.patch("/v1/me", json={"timezone": "Asia/Kathmandu"}, headers=person["headers"])
    assert me.status_code == 200
    assert me.json()["timezone"] == "Asia/Kathmandu" and me.json()["locale"] == "es"
    refused = client.patch("/v1/me", json={"timezone": None}, headers=person["headers"])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.timezone"
    assert session.exec(select(Participant)).one().timezone == "Asia/Kathmandu"
