"""Blinding: where arms are concealed, no staff route tells a clinician which arm a
participant is in; a participant's own download hides their arm and staff notes while the
study is active (the study's `blind_participant_download`)."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.clock import FrozenClock
from tests.test_checkins import BASE, FUSED, checkin, post, trial  # noqa: F401

ROUTES = (
    "",
    "/checkins",
    "/scores",
    "/deliveries",
    "/review",
    "/plan",
    "/personalization",
    "/schedule-override",
    "/waking-hours",
)


def shape(value: Any) -> Any:
    """The structure of a response: keys, list lengths and which values are null."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return None if value is None else type(value).__name__


def _same_history(client: TestClient, person: dict[str, Any], clock: FrozenClock) -> None:
    """The same check-ins for each person, a minute apart (so lists come in one order):
    fused, a positive risk screen, calm; and feedback on every delivery (refused where no
    skill came, which the clinician cannot see)."""
    for answers in (FUSED, {**BASE, "risk": 90}, BASE):
        clock.advance(timedelta(minutes=1))
        response = post(client, person, checkin(answers))
        assert response.status_code == 201, response.text
        delivery = response.json()["delivery"]
        client.post(
            f"/v1/deliveries/{delivery['id']}/feedback",
            json={"opened": True, "helpfulness": 2},
            headers=person["headers"],
        )


def _views(
    client: TestClient, study_id: str, person: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    base = f"/v1/studies/{study_id}/participants/{person['id']}"
    views: dict[str, Any] = {}
    for route in ROUTES:
        response = client.get(base + route, headers=headers)
        assert response.status_code == 200, (route, response.text)
        views[route] = shape(response.json())
    listing = f"/v1/studies/{study_id}"
    for route in ("/participants", "/safety-events", "/review-flags"):
        items = client.get(listing + route, params={"open": False}, headers=headers).json()
        mine = [
            item
            for item in items["items"]
            if person["id"] in (item.get("id"), item.get("participant_id"))
        ]
        views[route] = shape(mine)
    return views


def test_a_clinician_cannot_tell_a_tailored_from_an_assessment_only_participant(
    client: TestClient,
    owner: dict[str, str],
    make_staff: Callable[..., dict[str, str]],
    trial: dict[str, Any],  # noqa: F811
    clock: FrozenClock,
) -> None:
    study_id = trial["study"]["id"]
    tailored, assessed = trial["by_arm"]["tailored"], trial["by_arm"]["assessment"]
    for person in (tailored, assessed):
        _same_history(client, person, clock)
    clinician = make_staff("clinician@example.org")
    member = {"email": "clinician@example.org", "role": "clinician"}
    assert client.put(f"/v1/studies/{study_id}/members", json=member, headers=owner).is_success

    assert _views(client, study_id, tailored, clinician) == _views(
        client, study_id, assessed, clinician
    )
    # The owner, who may see arms, can tell them apart: the comparison has teeth.
    owner_views = [_views(client, study_id, person, owner) for person in (tailored, assessed)]
    assert owner_views[0]["/deliveries"] != owner_views[1]["/deliveries"]
    assert owner_views[0]["/review"] != owner_views[1]["/review"]


def _acknowledged_risk(
    client: TestClient, study_id: str, person: dict[str, Any], owner: dict[str, str]
) -> None:
    post(client, person, checkin({**BASE, "risk": 90}))
    url = f"/v1/studies/{study_id}/safety-events"
    [event] = client.get(url, params={"open": True}, headers=owner).json()["items"]
    acknowledged = client.post(
        f"{url}/{event['id']}/acknowledge", json={"note": "Called them."}, headers=owner
    )
    assert acknowledged.status_code == 200, acknowledged.text


def test_the_participant_download_hides_arm_and_staff_notes_while_active(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
) -> None:
    study = make_study()
    assert study["blind_participant_download"] is True
    person = enroll(study["id"])
    _acknowledged_risk(client, study["id"], person, owner)
    post(client, person, checkin(FUSED))

    data = client.get("/v1/me/data", headers=person["headers"]).json()
    assert data["participant"]["arm_id"] is None
    [allocation] = data["tables"]["allocation"]
    assert allocation["arm_key"] is None
    assert {row["policy"] for row in data["tables"]["delivery"]} == {None}
    assert {row["probabilities"] for row in data["tables"]["delivery"]} == {None}
    [event] = data["tables"]["safety_event"]
    assert event["note"] is None and event["acknowledged_at"] is not None
    assert "arm_key" in data["withheld"]["allocation"]
    assert "note" in data["withheld"]["safety_event"]
    assert "Called them." not in str(data)

    # Once the study is closed, the person sees everything.
    assert client.post(f"/v1/studies/{study['id']}/close", headers=owner).is_success
    closed = client.get("/v1/me/data", headers=person["headers"]).json()
    assert closed["withheld"] == {}
    assert closed["tables"]["allocation"][0]["arm_key"] is not None
    assert closed["tables"]["safety_event"][0]["note"] == "Called them."


def test_a_study_may_show_the_participant_their_arm_while_active(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
) -> None:
    study = make_study(blind_participant_download=False)
    person = enroll(study["id"])
    _acknowledged_risk(client, study["id"], person, owner)
    data = client.get("/v1/me/data", headers=person["headers"]).json()
    assert data["withheld"] == {}
    assert data["tables"]["allocation"][0]["arm_key"] is not None
    assert data["participant"]["arm_id"] is not None
    assert data["tables"]["safety_event"][0]["note"] == "Called them."


def test_the_download_names_no_policy_and_hides_the_decision_points_while_active(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    clock: FrozenClock,
) -> None:
    study = make_study(activate=False, block_size=3)
    base = f"/v1/studies/{study['id']}"
    mrt = client.put(
        f"{base}/arms/tailored/mrt",
        json={"probability": 0.5, "self_initiated": True},
        headers=owner,
    )
    assert mrt.status_code == 200, mrt.text
    assert client.post(f"{base}/activate", headers=owner).is_success
    people = [enroll(study["id"]) for _ in range(3)]
    listed = client.get(f"{base}/participants", headers=owner).json()["items"]
    arm_of = {row["id"]: row["arm"] for row in listed}
    clock.advance(timedelta(minutes=2))
    for person in people:
        assert post(client, person, checkin(FUSED)).status_code == 201

    downloads = {
        arm_of[person["id"]]: client.get("/v1/me/data", headers=person["headers"]).json()
        for person in people
    }
    for data in downloads.values():
        text = str(data["tables"])
        assert not any(word in text for word in ("tailored", "assessment_only", "randomized"))
        assert data["tables"]["decision_point"] == []
        assert "treated" in data["withheld"]["decision_point"]
        assert "response" in data["withheld"]["checkin"]

    assert client.post(f"{base}/close", headers=owner).is_success
    mrt_person = next(p for p in people if arm_of[p["id"]] == "tailored")
    closed = client.get("/v1/me/data", headers=mrt_person["headers"]).json()
    assert len(closed["tables"]["decision_point"]) == 1
    assert closed["tables"]["checkin"][0]["response"]["delivery"] is not None
