"""Pushes to the participant web app: the study's Firebase web app, web devices' messages
with their webpush part, and the API calls the web app makes besides (its skills, CORS)."""

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from app.clock import FrozenClock
from app.main import create_app
from app.push.fcm import FcmSender
from app.scheduling.dispatch import dispatch_once
from app.settings import Settings
from tests.conftest import START
from tests.fakes.fcm import FakeFcm

VAPID_KEY = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")
WEB_PUSH = {
    "firebase_config": {
        "apiKey": "AIzaSyExample",
        "authDomain": "kairos-test.firebaseapp.com",
        "projectId": "kairos-test",
        "messagingSenderId": "123456789012",
        "appId": "1:123456789012:web:abcdef",
    },
    "vapid_key": VAPID_KEY,
}
WEB_APP = "https://kairos.example.org/app/"
# Europe/Berlin is UTC+1 in early March: 13:00 local is 12:00 UTC.
FIRST = datetime(2026, 3, 2, 12, 0, tzinfo=START.tzinfo)


def test_owners_set_the_web_app_and_participants_read_it(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    study = make_study()
    base = f"/v1/studies/{study['id']}/web-push"
    person = enroll(study["id"])
    assert client.get(base, headers=owner).json() is None
    assert client.get("/v1/me", headers=person["headers"]).json()["web_push"] is None

    saved = client.put(base, json=WEB_PUSH, headers=owner)
    assert saved.status_code == 200, saved.text
    assert saved.json() == WEB_PUSH
    assert client.get(base, headers=owner).json() == WEB_PUSH
    assert client.get("/v1/me", headers=person["headers"]).json()["web_push"] == WEB_PUSH
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()["items"]
    assert "study.web_push" in [event["action"] for event in events]

    assert client.delete(base, headers=owner).status_code == 204
    assert client.get("/v1/me", headers=person["headers"]).json()["web_push"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vapid_key": "not a key"}, "vapid_key"),
        # base64url of 65 bytes that are not an uncompressed point (no 0x04 first)
        ({"vapid_key": base64.urlsafe_b64encode(bytes(65)).decode().rstrip("=")}, "vapid_key"),
        ({"firebase_config": {**WEB_PUSH["firebase_config"], "apiKey": ""}}, "apiKey"),
        ({"firebase_config": {**WEB_PUSH["firebase_config"], "serverKey": "x"}}, "serverKey"),
        ({"firebase_config": {"apiKey": "a", "appId": "b", "projectId": "c"}}, "messagingSenderId"),
    ],
)
def test_a_bad_web_app_config_is_refused_naming_its_field_and_nothing_changes(
    client: TestClient, owner: dict, make_study: Callable, change: dict, field: str
) -> None:
    study = make_study()
    base = f"/v1/studies/{study['id']}/web-push"
    assert client.put(base, json=WEB_PUSH, headers=owner).status_code == 200
    refused = client.put(base, json={**WEB_PUSH, **change}, headers=owner)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert any(error["field"].endswith(field) for error in refused.json()["errors"])
    assert client.get(base, headers=owner).json() == WEB_PUSH


def test_only_those_who_manage_the_study_change_its_web_app(
    client: TestClient, owner: dict, make_study: Callable, make_staff: Callable
) -> None:
    study = make_study()
    base = f"/v1/studies/{study['id']}/web-push"
    clinician = make_staff("clin@example.org")
    client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": "clin@example.org", "role": "clinician"},
        headers=owner,
    )
    assert client.put(base, json=WEB_PUSH, headers=clinician).status_code == 403
    stranger = make_staff("stranger@example.org")
    assert client.get(base, headers=stranger).status_code == 404


@pytest.fixture
def web_sender(fake_fcm: FakeFcm, tmp_path: Path, clock: FrozenClock) -> Any:
    sender = FcmSender(
        fake_fcm.service_account_file(tmp_path),
        endpoint=fake_fcm.url,
        timeout=30.0,
        clock=clock,
        web_app_url=WEB_APP,
    )
    yield sender
    sender.close()


def test_a_web_device_gets_a_webpush_part_that_lives_as_long_as_its_prompt(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    db: Engine,
    fake_fcm: FakeFcm,
    web_sender: FcmSender,
) -> None:
    study = make_study()
    schedule = {
        "fixed_times": ["13:00"],
        "last_day": 28,
        "expiry_minutes": 60,
        "reminder_minutes": [20],
    }
    saved = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": schedule}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    person = enroll(study["id"])
    device = {"token": "web-token-1", "platform": "web"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).status_code == 200
    [prompt] = [
        p
        for p in client.get("/v1/me/prompts", headers=person["headers"]).json()
        if p["scheduled_at"].startswith("2026-03-02")
    ] or [None]
    assert dispatch_once(db, web_sender, FIRST, "worker-1").outcomes == {"sent": 1}
    assert dispatch_once(db, web_sender, FIRST + timedelta(minutes=25), "worker-1").outcomes == {
        "sent": 1
    }
    first, reminder = (request.message for request in fake_fcm.requests_for("web-token-1"))
    prompt_id = first["data"]["prompt_id"]
    assert prompt is None or prompt["id"] == prompt_id
    assert first["webpush"] == {
        "headers": {"TTL": "3600", "Urgency": "high"},
        "notification": {
            "title": first["notification"]["title"],
            "body": first["notification"]["body"],
            "tag": prompt_id,
        },
        "fcm_options": {"link": f"{WEB_APP}#prompt={prompt_id}"},
    }
    # Only the web part: no Android or APNs block for a browser.
    assert "android" not in first and "apns" not in first
    # The reminder, 25 minutes on, lives for the 35 minutes left, and replaces the prompt's
    # notification (same tag).
    assert reminder["webpush"]["headers"]["TTL"] == "2100"
    assert reminder["webpush"]["notification"]["tag"] == prompt_id


def test_a_phone_keeps_its_android_and_apns_parts(
    client: TestClient,
    make_study: Callable,
    enroll: Callable,
    db: Engine,
    owner: dict,
    fake_fcm: FakeFcm,
    web_sender: FcmSender,
) -> None:
    study = make_study()
    schedule = {"fixed_times": ["13:00"], "last_day": 28, "expiry_minutes": 60}
    client.put(f"/v1/studies/{study['id']}/schedule", json={"schedule": schedule}, headers=owner)
    person = enroll(study["id"])
    device = {"token": "phone-token-1", "platform": "android"}
    client.put("/v1/me/device", json=device, headers=person["headers"])
    assert dispatch_once(db, web_sender, FIRST, "worker-1").outcomes == {"sent": 1}
    [request] = fake_fcm.requests_for("phone-token-1")
    assert "webpush" not in request.message
    assert request.message["android"]["ttl"] == "3600s"


def test_a_participant_reads_the_skills_they_may_be_offered_in_their_language(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    study = make_study()
    person = enroll(study["id"])
    skills = client.get("/v1/me/skills", headers=person["headers"]).json()
    libraries = client.get(f"/v1/studies/{study['id']}/libraries", headers=owner).json()
    [library] = [library for library in libraries["items"] if library["pinned"]]
    assert [skill["key"] for skill in skills] == [skill["key"] for skill in library["skills"]]
    first = library["skills"][0]
    assert skills[0]["title"] == first["title"]
    assert skills[0]["targets"] == first["targets"]

    # The clinician turns one off: it is no longer among them; the participant turning one
    # off keeps it listed, so that it can be turned on again.
    care = f"/v1/studies/{study['id']}/participants/{person['id']}/personalization"
    turned_off = client.put(care, json={"disabled_skills": [first["key"]]}, headers=owner)
    assert turned_off.status_code == 200, turned_off.text
    second = library["skills"][1]["key"]
    client.put("/v1/me/preferences", json={"disabled_skills": [second]}, headers=person["headers"])
    keys = [skill["key"] for skill in client.get("/v1/me/skills", headers=person["headers"]).json()]
    assert first["key"] not in keys and second in keys

    spanish = [
        skill
        for skill in library["skills"]
        if "es" in skill.get("translations", {}) and skill["key"] != first["key"]
    ]
    assert spanish, "the default library has Spanish texts"
    client.patch("/v1/me", json={"locale": "es"}, headers=person["headers"])
    titles = {
        s["key"]: s["title"] for s in client.get("/v1/me/skills", headers=person["headers"]).json()
    }
    assert titles[spanish[0]["key"]] == spanish[0]["translations"]["es"]["title"]


def test_cors_answers_only_the_origins_configured(
    db: Engine, settings: Settings, clock: FrozenClock
) -> None:
    preflight = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with TestClient(create_app(settings, db, clock)) as closed:
        answered = closed.options("/v1/checkins", headers=preflight)
        assert "access-control-allow-origin" not in answered.headers
    opened = settings.model_copy(update={"cors_origins": "https://app.example.org"})
    with TestClient(create_app(opened, db, clock)) as client:
        answered = client.options("/v1/checkins", headers=preflight)
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == "https://app.example.org"
        assert "authorization" in answered.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in answered.headers
        other = client.options(
            "/v1/checkins", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("value", ["app.example.org", "https://app.example.org/path", "ftp://x"])
def test_a_cors_origin_that_is_not_an_origin_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins=value)


def test_the_web_app_link_must_be_https() -> None:
    with pytest.raises(ValidationError, match="web_app_url"):
        Settings(web_app_url="http://kairos.example.org/app/")
