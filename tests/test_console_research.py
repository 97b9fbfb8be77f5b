"""The console's pages over the micro-randomized trial routes: an arm's design saved, shown
and removed while the study is a draft (problems at their inputs, what was typed kept), fixed
once it is active; the WCLS analysis as the API computes it, or its problem; the replay
report and the allocation sequence; each with the role of its API route."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, START
from tests.console_client import console_sign_in
from tests.test_checkins import FUSED, checkin
from tests.test_schedules_api import SCHEDULE

DESIGN = {
    "probability": "0.3",
    "by_study_day": "0.4, 0.6",
    "min_probability": "0.2",
    "max_probability": "0.8",
    "self_initiated": "true",
    "recent_offer_minutes": "30",
    "outcome": "next_need",
    "outcome_dimension": "cognition",
    "outcome_item": "",
    "outcome_hours": "6",
    "by_time_of_day[0].start": "",
    "by_time_of_day[0].probability": "",
}


def _field_error(html: str, input_id: str) -> str:
    found = re.search(rf'<small id="{input_id}-error" class="field-error">([^<]*)</small>', html)
    assert found, f"no problem shown at {input_id}"
    return found.group(1)


def _api_token(client: TestClient, email: str) -> dict[str, str]:
    form = {"username": email, "password": PASSWORD}
    token = client.post("/v1/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_drafts_arm_design_is_saved_shown_and_removed_with_its_problems_at_their_inputs(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study(activate=False)
    page_url = f"/console/studies/{study['id']}/mrt"
    api_url = f"/v1/studies/{study['id']}/arms/tailored/mrt"
    token = console_sign_in(client, "owner@example.org")
    listed = client.get(page_url).text
    assert f'href="{page_url}/tailored"' in listed and "Not micro-randomized" in listed
    form = client.get(f"{page_url}/tailored").text
    assert 'name="probability" type="text" value="0.5"' in form  # the design's defaults

    bad = {**DESIGN, "by_study_day": "0.4, often", "max_probability": "2"}
    refused = client.post(f"{page_url}/tailored", data={"csrf_token": token, **bad})
    assert refused.status_code == 422
    assert _field_error(refused.text, "f-by_study_day")
    assert _field_error(refused.text, "f-max_probability")
    assert 'name="by_study_day" type="text" value="0.4, often" aria-invalid="true"' in refused.text
    assert 'name="recent_offer_minutes" type="number" value="30"' in refused.text
    assert client.get(api_url, headers=owner).status_code == 404  # nothing stored

    # The model's own check (min above max) is the form's problem, above it.
    crossed = {**DESIGN, "min_probability": "0.9"}
    refused = client.post(f"{page_url}/tailored", data={"csrf_token": token, **crossed})
    assert refused.status_code == 422
    assert "min_probability must not exceed max_probability" in refused.text

    saved = client.post(
        f"{page_url}/tailored", data={"csrf_token": token, **DESIGN}, follow_redirects=False
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{page_url}/tailored")
    assert client.get(api_url, headers=owner).json() == {
        "probability": 0.3,
        "by_study_day": [0.4, 0.6],
        "by_time_of_day": [],
        "min_probability": 0.2,
        "max_probability": 0.8,
        "self_initiated": True,
        "recent_offer_minutes": 30,
        "outcome": "next_need",
        "outcome_dimension": "cognition",
        "outcome_item": None,
        "outcome_hours": 6,
    }
    shown = client.get(f"{page_url}/tailored").text
    assert 'name="by_study_day" type="text" value="0.4, 0.6"' in shown
    assert "Micro-randomized, p = 0.3" in client.get(page_url).text

    # Time-of-day bands, a blank row between them dropped.
    bands = {
        **DESIGN,
        "by_study_day": "",
        "by_time_of_day[0].start": "08:00",
        "by_time_of_day[0].probability": "0.3",
        "by_time_of_day[1].start": "",
        "by_time_of_day[1].probability": "",
        "by_time_of_day[2].start": "18:00",
        "by_time_of_day[2].probability": "0.7",
    }
    client.post(f"{page_url}/tailored", data={"csrf_token": token, **bands})
    assert client.get(api_url, headers=owner).json()["by_time_of_day"] == [
        {"start": "08:00:00", "probability": 0.3},
        {"start": "18:00:00", "probability": 0.7},
    ]
    assert (
        'name="by_time_of_day[1].start" type="time" value="18:00"'
        in client.get(f"{page_url}/tailored").text
    )

    removed = client.post(
        f"{page_url}/tailored/remove", data={"csrf_token": token}, follow_redirects=False
    )
    assert removed.status_code == 303
    assert client.get(api_url, headers=owner).status_code == 404
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()["items"]
    assert [event["action"] for event in events[:3]] == [
        "arm.mrt_design_remove",
        "arm.mrt_design",
        "arm.mrt_design",
    ]
    assert {event["actor_type"] for event in events[:3]} == {"staff"}


def test_an_active_studys_design_is_fixed_and_each_page_keeps_its_api_roles(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study = make_study(activate=False)
    base = f"/console/studies/{study['id']}"
    api = f"/v1/studies/{study['id']}"
    put = client.put(f"{api}/arms/tailored/mrt", json={"probability": 0.4}, headers=owner)
    assert put.status_code == 200
    assert client.post(f"{api}/activate", headers=owner).is_success
    make_staff("clin@example.org")
    make_staff("stranger@example.org")
    member = {"email": "clin@example.org", "role": "clinician"}
    assert client.put(f"{api}/members", json=member, headers=owner).is_success

    token = console_sign_in(client, "owner@example.org")
    shown = client.get(f"{base}/mrt/tailored").text
    assert "0.4" in shown and "Save the design" not in shown
    assert "fixed once the study is active" in shown
    locked = client.post(f"{base}/mrt/tailored", data={"csrf_token": token, "probability": "0.6"})
    assert locked.status_code == 409
    assert "fixed once the study is active" in locked.text
    assert client.get(f"{api}/arms/tailored/mrt", headers=owner).json()["probability"] == 0.4
    empty = client.get(f"{base}/analysis")
    assert empty.status_code == 409
    assert "This study has no decision points yet" in empty.text
    record = client.get(f"{base}/trial-record").text
    assert "The replay matches the record." in record
    assert "No one has been allocated yet." in record

    token = console_sign_in(client, "clin@example.org")
    assert client.get(f"{base}/mrt/tailored").status_code == 200  # as GET …/mrt: any member
    refused = client.post(f"{base}/mrt/tailored", data={"csrf_token": token})
    assert refused.status_code == 403
    assert client.get(f"{base}/analysis").status_code == 403
    assert client.get(f"{base}/trial-record").status_code == 403
    nav = client.get(base).text
    assert f'href="{base}/analysis"' not in nav and f'href="{base}/trial-record"' not in nav

    token = console_sign_in(client, "stranger@example.org")
    for path in ("/mrt", "/mrt/tailored", "/analysis", "/trial-record"):
        assert client.get(f"{base}{path}").status_code == 404, path
    assert client.post(f"{base}/mrt/tailored", data={"csrf_token": token}).status_code == 404


def test_the_analysis_is_the_apis_and_the_trial_record_pages_through_the_allocations(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    clock: Any,
) -> None:
    study = make_study(activate=False, arms=[{"key": "tailored", "policy": "tailored"}])
    api = f"/v1/studies/{study['id']}"
    design = {"probability": 0.5, "self_initiated": True}
    assert client.put(f"{api}/arms/tailored/mrt", json=design, headers=owner).is_success
    assert client.post(f"{api}/activate", headers=owner).is_success
    people = [enroll(study["id"]) for _ in range(6)]
    for n in range(4):
        for i, person in enumerate(people):
            at = START + timedelta(hours=n, minutes=1 + i)
            clock.set(at + timedelta(seconds=30))
            body = checkin(FUSED, client_id=f"c-{n}", answered_at=at.isoformat())
            answer = client.post("/v1/checkins", json=body, headers=person["headers"]).json()
            distress = 30 + 7 * ((n * 6 + i) % 5) - (10 if answer["delivery"]["skill"] else 0)
            client.post(
                f"/v1/deliveries/{answer['delivery']['id']}/feedback",
                json={"distress_after": distress},
                headers=person["headers"],
            )
    owner = _api_token(client, "owner@example.org")
    choice = {"moderators": ["hour_of_day"], "controls": ["hour_of_day"]}
    expected = client.get(f"{api}/analyses/wcls", params=choice, headers=owner).json()
    console_sign_in(client, "owner@example.org")
    base = f"/console/studies/{study['id']}"
    analyzed = client.get(f"{base}/analysis", params=choice)
    assert analyzed.status_code == 200, analyzed.text
    html = analyzed.text
    rows = re.findall(r'<th scope="row"><code>([^<]*)</code></th>(.*?)</tr>', html, re.S)
    wanted = [*expected["effects"], *expected["controls"]]
    assert [term for term, _ in rows] == [coefficient["term"] for coefficient in wanted]
    for (_, cells_html), coefficient in zip(rows, wanted, strict=True):
        cells = re.findall(r"<td>([^<]*)</td>", cells_html)
        assert cells == [
            f"{coefficient['estimate']:.4f}",
            f"{coefficient['std_error']:.4f}",
            f"[{coefficient['ci_low']:.4f}, {coefficient['ci_high']:.4f}]",
            f"{coefficient['p_value']:.4f}",
        ]
    assert f"<dd>{expected['available_decision_points']}</dd>" in html
    assert 'value="hour_of_day" checked' in html

    refused = client.get(
        f"{base}/analysis", params={"moderators": ["shoe_size"], "numerator_probability": "1.5"}
    )
    assert refused.status_code == 422
    assert _field_error(refused.text, "f-numerator_probability")
    assert 'value="1.5" aria-invalid="true"' in refused.text

    unknown = client.get(f"{base}/analysis", params={"moderators": ["shoe_size"]})
    assert unknown.status_code == 422
    assert "unknown covariate &#39;shoe_size&#39;" in _field_error(unknown.text, "f-moderators")

    record = client.get(f"{base}/trial-record", params={"limit": 3}).text
    assert "The replay matches the record." in record
    assert record.count("<td>tailored</td>") == 3
    assert 'rel="next"' in record and "offset=3&amp;limit=3" in record
    rest = client.get(f"{base}/trial-record", params={"limit": 3, "offset": 3}).text
    assert rest.count("<td>tailored</td>") == 3 and 'rel="next"' not in rest
    allocated = {p["id"] for p in people}
    shown = set(re.findall(r"<code>([0-9a-f-]{36})</code>", record + rest))
    assert allocated <= shown


def test_the_schedule_and_rule_set_versions_are_listed_for_every_member(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study = make_study()
    api = f"/v1/studies/{study['id']}"
    for hour in ("09:00", "10:00"):
        schedule = {**SCHEDULE, "fixed_times": [hour]}
        saved = client.put(f"{api}/schedule", json={"schedule": schedule}, headers=owner)
        assert saved.status_code == 200, saved.text
    make_staff("viewer@example.org")
    member = {"email": "viewer@example.org", "role": "viewer"}
    assert client.put(f"{api}/members", json=member, headers=owner).is_success
    console_sign_in(client, "viewer@example.org")
    base = f"/console/studies/{study['id']}/versions"
    newest = client.get(f"{base}/schedule", params={"limit": 1}).text
    assert "Version 2 as saved" in newest and "Version 1 as saved" not in newest
    assert "10:00" in newest and 'rel="next"' in newest
    oldest = client.get(f"{base}/schedule", params={"limit": 1, "offset": 1}).text
    assert "Version 1 as saved" in oldest and "09:00" in oldest
    expected = client.get(f"{api}/rules/versions", headers=owner).json()["items"]
    assert expected  # a study starts with the default rule set
    listed = client.get(f"{base}/rules").text
    assert all(f"Version {version['version']} as saved" in listed for version in expected)
