"""The console's research-data pages without a browser: exports stream the same bytes as the
API's routes and leave the same audit events, bad filters come back as the form with the
problem at its input, the codebook page, the audit log's filters and pages, and who may see
what (researchers export, owners read the log, strangers get 404)."""

import csv
import io
import re
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from app.export.tables import TABLES
from tests.conftest import PASSWORD, START
from tests.console_client import console_sign_in
from tests.test_checkins import FUSED, checkin

RESEARCHER = "researcher@example.org"


def research_study(request: pytest.FixtureRequest) -> dict[str, Any]:
    """An active study with three people who checked in (one at risk) and a researcher,
    all through the API (the test's own client, owner and clock)."""
    client: TestClient = request.getfixturevalue("client")
    owner: dict[str, str] = request.getfixturevalue("owner")
    clock: FrozenClock = request.getfixturevalue("clock")
    study = request.getfixturevalue("make_study")()
    enroll = request.getfixturevalue("enroll")
    people = [enroll(study["id"], pseudonym=f"P-{n}") for n in range(3)]
    clock.set(START + timedelta(minutes=2))
    for n, person in enumerate(people):
        answers = {**FUSED, "risk": 85} if n == 1 else FUSED
        posted = client.post(
            "/v1/checkins", json=checkin(answers, client_id=f"c-{n}"), headers=person["headers"]
        )
        assert posted.status_code == 201, posted.text
    request.getfixturevalue("make_staff")(RESEARCHER)
    added = client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": RESEARCHER, "role": "researcher"},
        headers=owner,
    )
    assert added.status_code == 200, added.text
    return {"study": study, "people": people}


@pytest.fixture
def data(request: pytest.FixtureRequest) -> dict[str, Any]:
    return research_study(request)


def _audit(client: TestClient, owner: dict[str, str], study_id: str, **params: Any) -> Any:
    response = client.get(f"/v1/studies/{study_id}/audit-events", params=params, headers=owner)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_table_is_the_api_s_file_and_the_same_audit_event(
    client: TestClient, owner: dict[str, str], data: dict[str, Any]
) -> None:
    study_id = data["study"]["id"]
    params = {"format": "csv", "participant": ["P-0", "P-1"], "dates": "relative"}
    api = client.get(f"/v1/studies/{study_id}/exports/checkins", params=params, headers=owner)
    assert api.status_code == 200, api.text
    console_sign_in(client, RESEARCHER)
    page = client.get(
        f"/console/studies/{study_id}/exports/file",
        params={**params, "table": "checkins", "participant": "P-0, P-1"},
    )
    assert page.status_code == 200, page.text
    assert page.content == api.content
    assert page.headers["content-type"] == api.headers["content-type"]
    assert page.headers["content-disposition"] == api.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert sorted(row["participant"] for row in rows) == ["P-0", "P-1"]
    assert "received_day" in rows[0] and "received_at" not in rows[0]

    events = _audit(client, owner, study_id, action="export.table")
    assert len(events) == 2
    owner_id = client.get("/v1/users/me", headers=owner).json()["id"]
    console_event, api_event = events  # newest first: the researcher's through the console
    assert api_event["actor_id"] == owner_id
    assert console_event["actor_type"] == "staff" and console_event["actor_id"] != owner_id
    assert console_event["details"] == api_event["details"]
    assert console_event["details"]["rows"] == {"checkins": 2}


def test_the_bundle_and_fhir_are_the_api_s_files(
    client: TestClient, owner: dict[str, str], data: dict[str, Any]
) -> None:
    study_id = data["study"]["id"]
    start = (START - timedelta(days=1)).isoformat()
    api_bundle = client.get(
        f"/v1/studies/{study_id}/exports/bundle", params={"start": start}, headers=owner
    )
    api_fhir = client.get(
        f"/v1/studies/{study_id}/fhir/QuestionnaireResponse",
        params={"participant": "P-2"},
        headers=owner,
    )
    api_questionnaire = client.get(f"/v1/studies/{study_id}/fhir/Questionnaire", headers=owner)
    console_sign_in(client, "owner@example.org")
    base = f"/console/studies/{study_id}/exports"
    # The browser sends a local date and time: in the study's zone (Europe/Berlin, UTC+1).
    local = (START - timedelta(days=1) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    bundle = client.get(f"{base}/bundle", params={"start": local, "table": "prompts"})
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert names == [*(f"{name}.csv" for name in TABLES), "codebook.json", "codebook.md"]
    expected = zipfile.ZipFile(io.BytesIO(api_bundle.content))
    for name in names:
        assert zipfile.ZipFile(io.BytesIO(bundle.content)).read(name) == expected.read(name)
    fhir = client.get(f"{base}/fhir/QuestionnaireResponse", params={"participant": "P-2"})
    assert fhir.status_code == 200 and fhir.content == api_fhir.content
    questionnaire = client.get(f"{base}/fhir/Questionnaire")
    assert questionnaire.content == api_questionnaire.content
    bundles = _audit(client, owner, study_id, action="export.bundle")
    assert bundles[0]["details"]["filters"] == bundles[1]["details"]["filters"]
    fhir_events = _audit(client, owner, study_id, action="export.fhir")
    assert [event["details"]["rows"] for event in fhir_events] == [
        {"Questionnaire": 1},
        {"QuestionnaireResponse": 1},
        {"Questionnaire": 1},
        {"QuestionnaireResponse": 1},
    ]


@pytest.mark.parametrize(
    ("path", "params", "field", "message"),
    [
        ("file", {"table": "nothing"}, "table", "No export table 'nothing'"),
        ("file", {"format": "xlsx"}, "format", "Input should be"),
        ("file", {"start": "2026-03-02T10:00", "end": "2026-03-01T10:00"}, "end", "after start"),
        ("file", {"start": "yesterday"}, "start", "Input should be a valid datetime"),
        ("bundle", {"participant": "P-0 P-9"}, "participant", "no participant 'P-9'"),
        ("bundle", {"arm": "nowhere"}, "arm", "no arm 'nowhere'"),
        ("fhir/QuestionnaireResponse", {"dates": "relative"}, "dates", "not offered"),
    ],
)
def test_bad_filters_come_back_as_the_form_with_the_problem_at_its_input(
    client: TestClient,
    owner: dict[str, str],
    data: dict[str, Any],
    path: str,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    study_id = data["study"]["id"]
    console_sign_in(client, RESEARCHER)
    response = client.get(f"/console/studies/{study_id}/exports/{path}", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    error = re.search(rf'id="f-{field}-error"[^>]*>(.*?)</small>', response.text, re.S)
    if field == "arm":  # the arm boxes share one message under their legend
        error = re.search(r'class="field-error">(.*?)</small>', response.text, re.S)
    assert error and message in error.group(1).replace("&#39;", "'"), response.text
    for name in ("start", "end", "participant"):  # what was typed is kept
        if name in params:
            assert f'name="{name}" type' in response.text
            assert f'value="{params[name]}"' in response.text
    assert _audit(client, owner, study_id, action="export.table") == []


def test_the_codebook_page_lists_every_table_and_column(
    client: TestClient, owner: dict[str, str], data: dict[str, Any]
) -> None:
    study_id = data["study"]["id"]
    book = client.get(
        f"/v1/studies/{study_id}/codebook", params={"dates": "relative"}, headers=owner
    ).json()
    console_sign_in(client, RESEARCHER)
    page = client.get(f"/console/studies/{study_id}/codebook", params={"dates": "relative"})
    assert page.status_code == 200
    for table in book["tables"]:
        assert f'id="table-{table["name"]}"' in page.text
        for column in table["columns"]:
            assert f"<code>{column['name']}</code>" in page.text
    assert "prefixed with a single quote" in page.text  # the CSV text note
    for fmt in ("json", "md"):
        file = client.get(
            f"/console/studies/{study_id}/codebook", params={"dates": "relative", "format": fmt}
        )
        api = client.get(
            f"/v1/studies/{study_id}/codebook",
            params={"dates": "relative", "format": fmt},
            headers=owner,
        )
        assert file.content == api.content
        assert file.headers["content-disposition"].startswith("attachment")


def test_the_audit_log_filters_by_action_actor_and_days_newest_first(
    client: TestClient, owner: dict[str, str], data: dict[str, Any], clock: FrozenClock
) -> None:
    study_id = data["study"]["id"]
    researcher_id = next(
        member["user_id"]
        for member in client.get(f"/v1/studies/{study_id}/members", headers=owner).json()["items"]
        if member["email"] == RESEARCHER
    )
    clock.set(START + timedelta(days=3))
    console_sign_in(client, RESEARCHER)
    client.get(f"/console/studies/{study_id}/exports/file", params={"table": "prompts"})
    console_sign_in(client, "owner@example.org")
    log = f"/console/studies/{study_id}/audit"
    page = client.get(log, params={"action": "export.table", "actor": f"staff:{researcher_id}"})
    assert page.status_code == 200
    assert page.text.count("<code>export.table</code>") == 1
    assert RESEARCHER in page.text
    # Days in the study's zone: day 3 holds the export, the study's first day does not.
    day = (START + timedelta(days=3)).date().isoformat()
    assert "<code>export.table</code>" in client.get(log, params={"start": day, "end": day}).text
    first = START.date().isoformat()
    assert "<code>export.table</code>" not in client.get(log, params={"end": first}).text
    # The same filters through the API.
    token = client.post(
        "/v1/auth/token", data={"username": "owner@example.org", "password": PASSWORD}
    ).json()["access_token"]
    events = _audit(
        client,
        {"Authorization": f"Bearer {token}"},
        study_id,
        actor_type="staff",
        actor_id=researcher_id,
        start=f"{day}T00:00:00Z",
    )
    assert [event["action"] for event in events] == ["export.table"]
    participants = client.get(log, params={"actor": "participant"}).text
    assert (
        "<code>export.table</code>" not in participants and "<td>participant</td>" in participants
    )
    bad = client.get(log, params={"start": "soon", "actor": "nobody"})
    assert bad.status_code == 422
    assert 'id="f-start-error"' in bad.text and 'id="f-actor-error"' in bad.text


def test_the_audit_log_pages_newest_first(
    client: TestClient, owner: dict[str, str], data: dict[str, Any]
) -> None:
    study_id = data["study"]["id"]
    for _ in range(60):
        exported = client.get(f"/v1/studies/{study_id}/exports/participants", headers=owner)
        assert exported.status_code == 200
    everything = _audit(client, owner, study_id, limit=200)
    assert len(everything) > 60
    console_sign_in(client, "owner@example.org")
    log = f"/console/studies/{study_id}/audit"
    first = client.get(log).text
    assert 'rel="next"' in first and 'rel="prev"' not in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older
    second = client.get(log + older.group(1).replace("&amp;", "&")).text
    assert 'rel="prev"' in second
    times = re.findall(r'<time datetime="([^"]+)"', first + second)
    assert times == sorted(times, reverse=True)
    assert len(times) == min(len(everything), 100)


def test_who_may_use_the_data_pages(
    client: TestClient,
    owner: dict[str, str],
    data: dict[str, Any],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study_id = data["study"]["id"]
    for role in ("clinician", "viewer"):
        make_staff(f"{role}@example.org")
        client.put(
            f"/v1/studies/{study_id}/members",
            json={"email": f"{role}@example.org", "role": role},
            headers=owner,
        )
    make_staff("stranger@example.org")
    base = f"/console/studies/{study_id}"
    export_pages = (
        "/exports",
        "/exports/file?table=checkins",
        "/exports/bundle",
        "/exports/fhir/Questionnaire",
        "/exports/fhir/QuestionnaireResponse",
        "/codebook",
        "/codebook?format=md",
    )
    expected = {
        RESEARCHER: (200, 403),
        "clinician@example.org": (403, 403),
        "viewer@example.org": (403, 403),
        "stranger@example.org": (404, 404),
        "owner@example.org": (200, 200),
    }
    for email, (exports, audit_log) in expected.items():
        console_sign_in(client, email)
        for path in export_pages:
            assert client.get(base + path).status_code == exports, (email, path)
        assert client.get(base + "/audit").status_code == audit_log, email
        nav = client.get(base).text
        assert ("Exports</a>" in nav) == (exports == 200), email
        assert ("Audit log</a>" in nav) == (audit_log == 200), email
