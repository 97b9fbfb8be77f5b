"""Bad input gets a clear 4xx naming the field, and nothing is stored."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.db import metadata
from tests.conftest import STUDY

# A refused attempt is counted where attempts are limited: that is storing the refusal.
REFUSALS_COUNTED = {"login_failure", "enrollment_failure"}


def table_counts(session: Session) -> dict[str, int]:
    return {
        table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in metadata.sorted_tables
        if table.name not in REFUSALS_COUNTED
    }


@pytest.fixture
def world(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> dict[str, Any]:
    draft = make_study(activate=False)
    active = make_study()
    person = enroll(active["id"])
    return {"draft": draft["id"], "active": active["id"], "person": person}


_SCHEDULE = {"fixed_times": ["09:00"], "last_day": 28}
_WINDOWS = "body.schedule.windows"
_NO_ID = "00000000-0000-4000-8000-000000000000"

EXPORT = "/v1/studies/{active}/exports/prompts"
# (method, path template, body, status, field or None)
CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/v1/studies", {**STUDY, "name": 7}, 422, "body.name"),
    ("POST", "/v1/studies", {**STUDY, "name": ""}, 422, "body.name"),
    (
        "POST",
        "/v1/studies",
        {**STUDY, "default_timezone": "Mars/Olympus"},
        422,
        "body.default_timezone",
    ),
    # Names zoneinfo can load that are no place: the host's own zone and IANA's "not set".
    (
        "POST",
        "/v1/studies",
        {**STUDY, "default_timezone": "localtime"},
        422,
        "body.default_timezone",
    ),
    ("POST", "/v1/studies", {**STUDY, "default_timezone": "Factory"}, 422, "body.default_timezone"),
    ("POST", "/v1/studies/{active}/participants", {"timezone": "Factory"}, 422, "body.timezone"),
    ("PATCH", "/v1/me", {"timezone": "localtime"}, 422, "body.timezone"),
    ("POST", "/v1/studies", {**STUDY, "colour": "blue"}, 422, "body.colour"),
    ("POST", "/v1/studies", {**STUDY, "block_size": 1}, 422, "body.block_size"),
    ("POST", "/v1/studies", {**STUDY, "default_locale": "english"}, 422, "body.default_locale"),
    (
        "POST",
        "/v1/studies",
        {**STUDY, "arms": [{"key": "x", "policy": "magic"}]},
        422,
        "body.arms[0].policy",
    ),
    (
        "POST",
        "/v1/studies",
        {**STUDY, "arms": [{"key": "x", "policy": "random", "weight": 0}]},
        422,
        "body.arms[0].weight",
    ),
    (
        "POST",
        "/v1/studies",
        {**STUDY, "arms": [{"key": "Bad Key", "policy": "random"}]},
        422,
        "body.arms[0].key",
    ),
    ("POST", "/v1/studies", [1, 2], 422, "body"),
    (
        "PATCH",
        "/v1/studies/{draft}",
        {"default_timezone": "Nowhere/City"},
        422,
        "body.default_timezone",
    ),
    ("PATCH", "/v1/studies/{draft}", {"name": None}, 422, "body.name"),
    ("PATCH", "/v1/studies/{draft}", {"seed": "x"}, 422, "body.seed"),
    (
        "PATCH",
        "/v1/studies/{draft}",
        {"clinicians_see_arm": "maybe"},
        422,
        "body.clinicians_see_arm",
    ),
    (
        "POST",
        "/v1/studies/{draft}/arms",
        {"key": "a", "policy": "random", "weight": 101},
        422,
        "body.weight",
    ),
    (
        "POST",
        "/v1/studies/{draft}/arms",
        {"key": "a", "policy": "random", "extra": 1},
        422,
        "body.extra",
    ),
    ("PATCH", "/v1/studies/{draft}/arms/tailored", {"weight": -1}, 422, "body.weight"),
    ("PATCH", "/v1/studies/{draft}/arms/tailored", {"policy": None}, 422, "body.policy"),
    (
        "PUT",
        "/v1/studies/{draft}/members",
        {"email": "not-an-email", "role": "viewer"},
        422,
        "body.email",
    ),
    (
        "PUT",
        "/v1/studies/{draft}/members",
        {"email": "owner@example.org", "role": "king"},
        422,
        "body.role",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants",
        {"timezone": "Atlantis/Deep"},
        422,
        "body.timezone",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants",
        {"timezone": "UTC", "pseudonym": "has space"},
        422,
        "body.pseudonym",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants",
        {"timezone": "UTC", "name": "Jane Doe"},
        422,
        "body.name",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants",
        {"timezone": "UTC", "locale": 12},
        422,
        "body.locale",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants/{person_id}/status",
        {"status": "asleep"},
        422,
        "body.status",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants/{person_id}/status",
        {"status": "paused", "why": "x"},
        422,
        "body.why",
    ),
    (
        "PATCH",
        "/v1/studies/{active}/participants/{person_id}",
        {"timezone": "Moon/Base"},
        422,
        "body.timezone",
    ),
    (
        "PATCH",
        "/v1/studies/{active}/participants/{person_id}",
        {"strata": {"site": "x"}},
        422,
        "body.strata",
    ),
    ("PATCH", "/v1/me", {"timezone": "Moon/Base"}, 422, "body.timezone"),
    ("PATCH", "/v1/me", {"pseudonym": "me"}, 422, "body.pseudonym"),
    ("POST", "/v1/enroll", {"code": ""}, 422, "body.code"),
    ("POST", "/v1/enroll", {"code": "ABCDE", "device": "x"}, 422, "body.device"),
    ("POST", "/v1/enroll", {"code": "NOT-A-REAL-CODE"}, 422, "body.code"),
    ("PUT", "/v1/me/device", {"token": "t", "platform": "symbian"}, 422, "body.platform"),
    ("PUT", "/v1/me/device", {"token": "", "platform": "ios"}, 422, "body.token"),
    ("PUT", "/v1/me/device", {"token": "t" * 1025, "platform": "ios"}, 422, "body.token"),
    ("PUT", "/v1/me/device", {"token": "t", "platform": "ios", "kind": "imei"}, 422, "body.kind"),
    ("PUT", "/v1/studies/{active}/schedule", {"schedule": {"last_day": 28}}, 422, _WINDOWS),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": {"fixed_times": ["25:00"], "last_day": 5}},
        422,
        "body.schedule.fixed_times[0]",
    ),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": {"fixed_times": ["09:00", "09:10"], "last_day": 5}},
        422,
        "body.schedule.fixed_times",
    ),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": {"windows": [{"start": "10:00", "end": "09:00"}], "last_day": 5}},
        422,
        "body.schedule.windows[0].end",
    ),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": {**_SCHEDULE, "reminder_minutes": [90]}},
        422,
        "body.schedule.reminder_minutes",
    ),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": _SCHEDULE, "notification": {"en": {"title": "", "body": "b"}}},
        422,
        "body.notification.en.title",
    ),
    (
        "PUT",
        "/v1/studies/{active}/schedule",
        {"schedule": _SCHEDULE, "colour": 1},
        422,
        "body.colour",
    ),
    (
        "POST",
        "/v1/studies/{active}/schedule/preview",
        {"timezone": "Mars/Olympus", "start_date": "2026-03-01", "schedule": _SCHEDULE},
        422,
        "body.timezone",
    ),
    (
        "POST",
        "/v1/studies/{active}/schedule/preview",
        {"timezone": "UTC", "start_date": "2026-03-01", "days": 400, "schedule": _SCHEDULE},
        422,
        "body.days",
    ),
    (
        "PUT",
        "/v1/studies/{active}/participants/{person_id}/schedule-override",
        {"schedule": _SCHEDULE, "reason": ""},
        422,
        "body.reason",
    ),
    (
        "DELETE",
        "/v1/studies/{active}/participants/{person_id}/schedule-override",
        None,
        422,
        "query.reason",
    ),
    (
        "PUT",
        "/v1/studies/{active}/participants/{person_id}/waking-hours",
        {"wake": "07:00", "sleep": "07:00"},
        422,
        "body.sleep",
    ),
    ("PUT", "/v1/me/waking-hours", {"wake": "7am", "sleep": "23:00"}, 422, "body.wake"),
    ("PUT", "/v1/me/waking-hours", {"wake": "07:00:30", "sleep": "23:00"}, 422, "body.wake"),
    (
        "GET",
        "/v1/studies/{active}/compliance?start=2026-03-05&end=2026-03-01",
        None,
        422,
        "query.end",
    ),
    ("POST", "/v1/prompts/not-a-uuid/opened", None, 422, "path.prompt_id"),
    ("PUT", "/v1/studies/{draft}/questionnaire", {"items": []}, 422, "body.items"),
    (
        "PUT",
        "/v1/studies/{draft}/questionnaire",
        {"items": [{"key": "a", "type": "likert", "text": {"en": "A?"}}]},
        422,
        "body.items[0]",
    ),
    (
        "PUT",
        "/v1/studies/{draft}/questionnaire",
        {"items": [{"key": "a", "type": "slider", "text": {"english": "A?"}}]},
        422,
        "body.items[0].text.english",
    ),
    (
        "PUT",
        "/v1/studies/{active}/rules",
        {"rules": [{"id": "a", "pole": "sadness", "value": {"op": "const", "value": 1}}]},
        422,
        "body.rules[0].pole",
    ),
    (
        "PUT",
        "/v1/studies/{active}/rules",
        {"rules": [{"id": "a", "pole": "inaction", "value": {"op": "eval", "code": "1"}}]},
        422,
        "body.rules[0].value",
    ),
    (
        "POST",
        "/v1/studies/{active}/rules/dry-run",
        {"answers": {"distress": "high"}},
        422,
        "body.answers.distress",
    ),
    (
        "POST",
        "/v1/studies/{active}/libraries",
        {"from_library_id": "x"},
        422,
        "body.from_library_id",
    ),
    (
        "PUT",
        "/v1/studies/{active}/safety",
        {"settings": {"high": 10}, "resources": {"en": {"text": "Call 112."}}},
        422,
        "body.settings",
    ),
    (
        "PUT",
        "/v1/studies/{active}/safety",
        {"settings": {}, "resources": {}},
        422,
        "body.resources",
    ),
    (
        "PUT",
        "/v1/studies/{active}/participants/{person_id}/personalization",
        {"threshold_overrides": {"emotion": 140}},
        422,
        "body.threshold_overrides.emotion",
    ),
    (
        "PUT",
        "/v1/studies/{active}/participants/{person_id}/personalization",
        {"extra_skills": [{"key": "k", "title": "T", "steps": [], "duration_seconds": 60}]},
        422,
        "body.extra_skills[0].steps",
    ),
    ("PUT", "/v1/me/preferences", {"preferred_dimension": "soul"}, 422, "body.preferred_dimension"),
    ("POST", f"/v1/deliveries/{_NO_ID}/feedback", {"helpfulness": 11}, 422, "body.helpfulness"),
    (
        "POST",
        "/v1/checkins",
        {"client_id": "c1", "answered_at": "yesterday", "answers": {}},
        422,
        "body.answered_at",
    ),
    (
        "POST",
        "/v1/studies/{active}/participants/{person_id}/erase",
        {"pseudonym": "not-them"},
        422,
        "body.pseudonym",
    ),
    ("POST", "/v1/studies/{active}/participants/{person_id}/erase", {}, 422, "body.pseudonym"),
    (
        "POST",
        "/v1/studies/{active}/participants/{person_id}/erase",
        {"pseudonym": "x", "also": "devices"},
        422,
        "body.also",
    ),
    ("GET", EXPORT + "?start=2026-03-01T00:00:00", None, 422, "query.start"),
    ("GET", EXPORT + "?start=yesterday", None, 422, "query.start"),
    (
        "GET",
        EXPORT + "?start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z",
        None,
        422,
        "query.end",
    ),
    ("GET", EXPORT + "?format=xlsx", None, 422, "query.format"),
    ("GET", EXPORT + "?dates=fuzzy", None, 422, "query.dates"),
    ("GET", EXPORT + "?arm=placebo", None, 422, "query.arm"),
    ("GET", EXPORT + "?arm=Bad%20Key", None, 422, "query.arm[0]"),
    ("GET", EXPORT + "?participant=NOBODY", None, 422, "query.participant"),
    ("GET", EXPORT + "?participant=has%20space", None, 422, "query.participant[0]"),
    ("GET", "/v1/studies/{active}/exports/secrets", None, 422, "path.table"),
    ("GET", "/v1/studies/{active}/exports/bundle?format=xlsx", None, 422, "query.format"),
    ("GET", "/v1/studies/{active}/codebook?format=pdf", None, 422, "query.format"),
    ("DELETE", "/v1/studies/{active}/members/nobody@example.org", None, 404, None),
    # Pages: limit 1-200, offset from 0.
    ("GET", "/v1/studies/{active}/members?limit=0", None, 422, "query.limit"),
    ("GET", "/v1/studies/{active}/members?limit=201", None, 422, "query.limit"),
    ("GET", "/v1/studies/{active}/participants?offset=-1", None, 422, "query.offset"),
    ("GET", "/v1/studies/{active}/participants?limit=many", None, 422, "query.limit"),
    ("GET", "/v1/studies/{active}/allocations?limit=1000", None, 422, "query.limit"),
    ("GET", "/v1/studies/{active}/audit-events?offset=-5", None, 422, "query.offset"),
]


def _request(
    client: TestClient, world: dict, owner: dict, method: str, template: str, body: Any
) -> Any:
    path = template.format(
        draft=world["draft"], active=world["active"], person_id=world["person"]["id"]
    )
    participant_routes = ("/v1/me", "/v1/prompts", "/v1/deliveries", "/v1/checkins")
    headers = world["person"]["headers"] if path.startswith(participant_routes) else owner
    return client.request(method, path, json=body, headers=headers)


def test_every_bad_input_is_a_clear_4xx_and_stores_nothing(
    client: TestClient, world: dict, owner: dict, session: Session
) -> None:
    before = table_counts(session)
    for method, template, body, status, field in CASES:
        response = _request(client, world, owner, method, template, body)
        assert response.status_code == status, (method, template, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] and problem["status"] == status
        if field is not None:
            fields = [error["field"] for error in problem["errors"]]
            assert field in fields, (template, body, fields)
    assert table_counts(session) == before


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"password": "whatever"}, "body.username"),
        ({"username": "ana@example.org"}, "body.password"),
        ({"username": "", "password": "whatever"}, "body.username"),
        ({"username": "a" * 321, "password": "whatever"}, "body.username"),
        ({"username": "ana@example.org", "password": "p" * 1025}, "body.password"),
    ],
)
def test_sign_in_form_errors_name_the_field(
    client: TestClient, session: Session, form: dict[str, str], field: str
) -> None:
    before = table_counts(session)
    response = client.post("/v1/auth/token", data=form)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert table_counts(session) == before


def test_malformed_json_is_400(client: TestClient, owner: dict, session: Session) -> None:
    before = table_counts(session)
    response = client.post(
        "/v1/studies", content=b'{"name": ', headers={**owner, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert table_counts(session) == before


def test_oversized_bodies_are_413(client: TestClient, owner: dict, session: Session) -> None:
    before = table_counts(session)
    huge = {**STUDY, "description": "x" * 70_000}
    response = client.post("/v1/studies", json=huge, headers=owner)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    def chunks():
        for _ in range(100):
            yield b" " * 1000

    streamed = client.post(
        "/v1/studies", content=chunks(), headers={**owner, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert table_counts(session) == before


def test_bad_path_and_query_values_name_the_parameter(client: TestClient, owner: dict) -> None:
    response = client.get("/v1/studies/not-a-uuid", headers=owner)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.study_id"
    response = client.get("/v1/studies?offset=-1", headers=owner)
    assert response.json()["errors"][0]["field"] == "query.offset"


def test_unknown_routes_and_methods_are_problems(client: TestClient, owner: dict) -> None:
    missing = client.get("/v1/nothing-here", headers=owner)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = client.delete("/v1/studies", headers=owner)
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
