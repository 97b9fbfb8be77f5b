"""/metrics: what moves after a check-in, a safety event and a dispatch run; who may read
it (the API's and a worker's); and that no label value names a participant or a study."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.clock import FrozenClock
from app.main import create_app
from app.push.fcm import FcmSender
from app.settings import Settings
from app.worker import Jobs, serve_metrics
from tests.conftest import PASSWORD, START
from tests.test_checkins import BASE
from tests.test_dispatch import FIRST, SCHEDULE

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
LOCAL = ("127.0.0.1", 50000)
RISKY = {**BASE, "risk": 85}
IDENTIFIER = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    local = TestClient(client.app, client=LOCAL)
    response = local.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def changed(settings: Settings, **values: Any) -> Settings:
    return Settings.model_validate({**settings.model_dump(), **values})


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def busy(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
    db: Engine,
    settings: Settings,
    fcm_sender: FcmSender,
) -> dict[str, Any]:
    """A study with one participant who checks in at risk (twice: the retry is a
    duplicate), and a dispatch run 90 s after their first prompt was due."""
    before = scrape(client)
    study = make_study()
    schedule = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": SCHEDULE}, headers=owner
    )
    assert schedule.status_code == 200, schedule.text
    person = enroll(study["id"])
    device = {"token": "tok-metrics", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).is_success
    clock.set(START + timedelta(minutes=2))
    body = {
        "client_id": uuid.uuid4().hex,
        "answered_at": (START + timedelta(minutes=1)).isoformat(),
        "answers": RISKY,
    }
    first = client.post("/v1/checkins", json=body, headers=person["headers"])
    assert first.status_code == 201, first.text
    assert first.json()["safety"]["tier"] == "high"
    retry = client.post("/v1/checkins", json=body, headers=person["headers"])
    assert retry.is_success, retry.text
    clock.set(FIRST + timedelta(seconds=90))
    assert Jobs(db, fcm_sender, clock, settings, "worker-1").dispatch() == 1
    # Hours later the owner signs in again.
    credentials = {"username": "owner@example.org", "password": PASSWORD}
    signed_in = client.post("/v1/auth/token", data=credentials).json()
    return {
        "owner": {"Authorization": f"Bearer {signed_in['access_token']}"},
        "before": before,
        "after": scrape(client),
        "study": study,
        "person": person,
        "client_id": body["client_id"],
        "retry_status": str(retry.status_code),
    }


def test_a_check_in_a_safety_event_and_a_dispatch_run_move_the_metrics(
    client: TestClient, busy: dict, clock: FrozenClock
) -> None:
    before, after = busy["before"], busy["after"]

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kairos_checkins_total", outcome="on_time") == 1
    assert moved("kairos_checkins_total", outcome="duplicate") == 1
    checkins = {"method": "POST", "route": "/v1/checkins"}
    assert moved("kairos_http_requests_total", **checkins, status="201") == 1
    assert moved("kairos_http_requests_total", **checkins, status=busy["retry_status"]) >= 1
    assert moved("kairos_http_request_duration_seconds_count", **checkins) == 2
    assert moved("kairos_safety_events_total", tier="high") == 1
    assert value(after, "kairos_safety_events_open", tier="high") == 1
    open_for = FIRST + timedelta(seconds=90) - (START + timedelta(minutes=2))
    oldest = value(after, "kairos_safety_event_oldest_open_seconds", tier="high")
    assert oldest == open_for.total_seconds()
    assert value(after, "kairos_prompts", status="sent") == 1
    assert value(after, "kairos_prompts", status="planned") >= 1
    assert value(after, "kairos_prompts", status="answered") == 0
    assert moved("kairos_dispatch_lag_seconds_count") == 1
    assert moved("kairos_dispatch_lag_seconds_sum") == 90
    assert moved("kairos_dispatch_lag_seconds_bucket", le="60.0") == 0
    assert moved("kairos_dispatch_lag_seconds_bucket", le="120.0") == 1
    sent = {"kind": "prompt", "outcome": "sent", "error_code": ""}
    assert moved("kairos_push_outcomes_total", **sent) == 1
    assert moved("kairos_job_duration_seconds_count", job="dispatch") == 1
    last = value(after, "kairos_job_last_success_timestamp_seconds", job="dispatch")
    assert last == clock.now().timestamp()

    # Acknowledged, the event leaves the open gauge and its wait is observed.
    url = f"/v1/studies/{busy['study']['id']}/safety-events"
    owner = busy["owner"]
    [event] = client.get(url, params={"open": True}, headers=owner).json()["items"]
    clock.advance(timedelta(minutes=10))
    note = {"note": "Called."}
    acknowledged = client.post(f"{url}/{event['id']}/acknowledge", json=note, headers=owner)
    assert acknowledged.is_success, acknowledged.text
    later = scrape(client)
    assert value(later, "kairos_safety_events_open", tier="high") == 0
    waited = "kairos_safety_event_acknowledged_after_seconds"
    assert (
        value(later, f"{waited}_count", tier="high") - value(after, f"{waited}_count", tier="high")
        == 1
    )
    assert (
        value(later, f"{waited}_sum", tier="high") - value(after, f"{waited}_sum", tier="high")
        == (open_for + timedelta(minutes=10)).total_seconds()
    )


def test_no_label_carries_an_identifier(client: TestClient, busy: dict) -> None:
    study_id, person, owner = busy["study"]["id"], busy["person"], busy["owner"]
    assert client.get(f"/v1/studies/{study_id}", headers=owner).status_code == 200
    assert client.get(f"/v1/studies/{study_id}/no-such-thing", headers=owner).status_code == 404
    token = person["headers"]["Authorization"].removeprefix("Bearer ")
    secrets = {study_id, person["id"], person["pseudonym"], busy["client_id"], token, "tok-metrics"}
    samples = scrape(client)
    values = {value for _, labels in samples for _, value in labels}
    assert "/v1/studies/{study_id}" in values
    assert "unmatched" in values
    leaks = [v for v in values if IDENTIFIER.search(v) or any(s in v for s in secrets)]
    assert leaks == []


def test_only_allowed_callers_may_read_the_metrics(
    client: TestClient, db: Engine, settings: Settings, clock: FrozenClock
) -> None:
    # The embedded default: 127.0.0.1 only; anyone else sees no such page.
    refused = client.get("/metrics")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "not_found"
    assert TestClient(client.app, client=("10.1.2.3", 5)).get("/metrics").status_code == 404
    assert TestClient(client.app, client=LOCAL).get("/metrics").status_code == 200

    # A token, and no networks: only the token opens it, from wherever.
    closed = changed(settings, metrics_token="scrape-me", metrics_allow_networks="")
    app = create_app(closed, db, clock)
    for host in (LOCAL, ("203.0.113.9", 5)):
        caller = TestClient(app, client=host)
        assert caller.get("/metrics").status_code == 404
        assert caller.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        good = caller.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert good.status_code == 200 and "kairos_prompts" in good.text

    # A listed network.
    office = changed(settings, metrics_allow_networks="10.0.0.0/8, ::1/128")
    app = create_app(office, db, clock)
    assert TestClient(app, client=("10.1.2.3", 5)).get("/metrics").status_code == 200
    assert TestClient(app, client=LOCAL).get("/metrics").status_code == 404


def test_a_networks_setting_that_does_not_parse_is_refused() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        Settings(metrics_allow_networks="127.0.0.1/32,not-a-network")


def test_a_worker_serves_the_same_metrics_on_its_own_port(
    db: Engine, settings: Settings, clock: FrozenClock, fcm_sender: FcmSender
) -> None:
    jobs = Jobs(db, fcm_sender, clock, settings, "worker-1")
    jobs.expire()
    server = serve_metrics(jobs, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        samples = parse(httpx.get(f"{url}/metrics", timeout=5).text)
        assert value(samples, "kairos_job_last_success_timestamp_seconds", job="expire") == (
            clock.now().timestamp()
        )
        assert ("kairos_prompts", frozenset({("status", "planned")})) in samples
        assert httpx.get(f"{url}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
    closed = Jobs(db, fcm_sender, clock, changed(settings, metrics_allow_networks=""), "w")
    server = serve_metrics(closed, "127.0.0.1", 0)
    try:
        refused = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
    finally:
        server.shutdown()
        server.server_close()
