"""The participant page's forms for the API's other staff routes of one participant: the
time zone, locale and reference (its PATCH: care roles), a new enrollment code while
invited and erasure confirmed by the pseudonym (owners and researchers), and a test
notification (care roles); each audited as the API does, problems at their inputs and
nothing written on a refusal."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console_client import add_members, csrf_of, sign_in_as


@pytest.fixture
def world(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> dict[str, Any]:
    """A study with an enrolled participant, a researcher and a clinician."""
    study = make_study()
    person = enroll(study["id"])
    members = {"res@example.org": "researcher", "clin@example.org": "clinician"}
    add_members(client, owner, make_staff, study, members)
    api = f"/v1/studies/{study['id']}/participants/{person['id']}"
    page = f"/console/studies/{study['id']}/participants/{person['id']}"
    return {"study": study, "person": person, "api": api, "page": page}


def _actions(client: TestClient, world: dict[str, Any], owner: dict[str, str]) -> list[str]:
    events = client.get(f"/v1/studies/{world['study']['id']}/audit-events", headers=owner).json()
    return [event["action"] for event in events["items"]]


def test_a_clinician_changes_the_details_through_the_patch(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    shown = client.get(world["page"]).text
    assert 'name="timezone" type="text" value="Europe/Berlin"' in shown
    typed = {"timezone": "America/New_York", "locale": "es", "external_ref": "R-17"}
    saved = client.post(
        f"{world['page']}/details", data={"csrf_token": token, **typed}, follow_redirects=False
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{world['page']}#details")
    stored = client.get(world["api"], headers=owner).json()
    assert {name: stored[name] for name in typed} == typed
    events = client.get(f"/v1/studies/{world['study']['id']}/audit-events", headers=owner).json()
    assert events["items"][0]["action"] == "participant.update"
    assert events["items"][0]["details"] == {"fields": ["external_ref", "locale", "timezone"]}
    # Only what differs is sent; a blank locale or reference clears it.
    blank = {**typed, "locale": "", "external_ref": " "}
    client.post(f"{world['page']}/details", data={"csrf_token": token, **blank})
    stored = client.get(world["api"], headers=owner).json()
    assert (stored["timezone"], stored["locale"], stored["external_ref"]) == (
        "America/New_York",
        None,
        None,
    )
    assert _actions(client, world, owner)[0] == "participant.update"
    events = client.get(f"/v1/studies/{world['study']['id']}/audit-events", headers=owner).json()
    assert events["items"][0]["details"] == {"fields": ["external_ref", "locale"]}


def test_a_detail_s_problem_shows_at_its_input_and_nothing_changes(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    typed = {"timezone": "Mars/Olympus", "locale": "fr", "external_ref": "R-18"}
    refused = client.post(f"{world['page']}/details", data={"csrf_token": token, **typed})
    assert refused.status_code == 422
    assert 'id="f-timezone-error"' in refused.text and 'value="Mars/Olympus"' in refused.text
    assert 'value="R-18"' in refused.text
    cleared = client.post(
        f"{world['page']}/details", data={"csrf_token": token, **typed, "timezone": ""}
    )
    assert cleared.status_code == 422 and "timezone cannot be null" in cleared.text
    stored = client.get(world["api"], headers=owner).json()
    assert (stored["timezone"], stored["locale"], stored["external_ref"]) == (
        "Europe/Berlin",
        None,
        None,
    )


def test_an_invited_participant_gets_a_new_code_and_the_old_one_stops_working(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    study = world["study"]
    created = client.post(
        f"/v1/studies/{study['id']}/participants", json={"timezone": "UTC"}, headers=owner
    ).json()
    page = f"/console/studies/{study['id']}/participants/{created['id']}"
    token = sign_in_as(client, "clin@example.org")
    assert "Issue a new enrollment code" not in client.get(page).text
    assert client.post(f"{page}/enrollment-code", data={"csrf_token": token}).status_code == 403
    token = sign_in_as(client, "res@example.org")
    assert "Issue a new enrollment code" in client.get(page).text
    issued = client.post(f"{page}/enrollment-code", data={"csrf_token": token})
    assert issued.status_code == 200
    assert f"A new enrollment code for {created['pseudonym']}" in issued.text
    code = issued.text.split('<p class="code" aria-label="Enrollment code">')[1].split("<")[0]
    assert code != created["enrollment"]["code"]
    assert _actions(client, world, owner)[0] == "participant.reissue_code"
    old = client.post("/v1/enroll", json={"code": created["enrollment"]["code"]})
    assert (old.status_code, old.json()["code"]) == (422, "invalid_code")
    assert client.post("/v1/enroll", json={"code": code}).status_code == 201
    # Enrolled now: no code to issue; a posted form is refused by the service, saying why.
    assert "Issue a new enrollment code" not in client.get(page).text
    refused = client.post(f"{page}/enrollment-code", data={"csrf_token": csrf_of(issued.text)})
    assert refused.status_code == 409
    assert "Only an invited participant gets an enrollment code" in refused.text


def test_a_test_notification_reaches_the_device_and_says_so(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    token = sign_in_as(client, "clin@example.org")
    none = client.post(f"{world['page']}/test-push", data={"csrf_token": token})
    assert none.status_code == 409 and "This participant has no active device" in none.text
    device = {"token": "tok-console", "platform": "android"}
    headers = world["person"]["headers"]
    assert client.put("/v1/me/device", json=device, headers=headers).is_success
    sent = client.post(f"{world['page']}/test-push", data={"csrf_token": token})
    assert sent.status_code == 200
    assert "Sent: the push service accepted it (message" in sent.text
    assert _actions(client, world, owner)[0] == "participant.test_push"
    assert client.post(f"{world['page']}/test-push").status_code == 403  # no token


def test_erasure_is_confirmed_by_the_pseudonym_and_leaves_a_tombstone(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    pseudonym = world["person"]["pseudonym"]
    token = sign_in_as(client, "clin@example.org")
    assert "Erase the data of" not in client.get(world["page"]).text
    refused = client.post(
        f"{world['page']}/erase", data={"csrf_token": token, "pseudonym": pseudonym}
    )
    assert refused.status_code == 403
    token = sign_in_as(client, "res@example.org")
    wrong = client.post(f"{world['page']}/erase", data={"csrf_token": token, "pseudonym": "P-x"})
    assert wrong.status_code == 422 and 'id="f-pseudonym-error"' in wrong.text
    assert "Type the participant&#39;s pseudonym to confirm" in wrong.text
    assert client.get(world["api"], headers=owner).json()["erased_at"] is None
    erased = client.post(
        f"{world['page']}/erase",
        data={"csrf_token": token, "pseudonym": pseudonym},
        follow_redirects=False,
    )
    assert (erased.status_code, erased.headers["location"]) == (303, world["page"])
    stored = client.get(world["api"], headers=owner).json()
    assert stored["erased_at"] is not None and stored["status"] == "withdrawn"
    assert _actions(client, world, owner)[0] == "participant.erase"
    page = client.get(world["page"]).text
    assert "Data erased" in page and "Erase the data of" not in page and "Save details" not in page


def test_a_clinician_sets_the_participant_s_waking_hours_as_their_app_does(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    own = f"{world['page']}/schedule"
    token = sign_in_as(client, "clin@example.org")
    assert "None of their own" in client.get(own).text
    wrong = client.post(
        f"{world['page']}/waking-hours", data={"csrf_token": token, "wake": "07:00", "sleep": "7"}
    )
    assert wrong.status_code == 422 and 'id="f-sleep-error"' in wrong.text
    assert 'name="wake" type="text" value="07:00"' in wrong.text
    assert client.get(f"{world['api']}/waking-hours", headers=owner).json() is None
    saved = client.post(
        f"{world['page']}/waking-hours",
        data={"csrf_token": token, "wake": "07:00", "sleep": "23:30"},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{own}#waking-hours")
    stored = client.get(f"{world['api']}/waking-hours", headers=owner).json()
    assert stored == {"wake": "07:00:00", "sleep": "23:30:00"}
    assert _actions(client, world, owner)[0] == "participant.waking_hours"
    assert "07:00\u201323:30" in client.get(own).text  # an en dash between
