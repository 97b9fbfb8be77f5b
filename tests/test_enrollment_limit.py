"""Enrollment codes cannot be guessed at speed: refused codes are limited per address."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.clock import FrozenClock
from app.settings import Settings
from app.studies.models import EnrollmentFailure


def test_refused_codes_are_limited_per_client_address(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    settings: Settings,
    clock: FrozenClock,
    session: Session,
) -> None:
    study = make_study()
    created = client.post(
        f"/v1/studies/{study['id']}/participants", json={"timezone": "UTC"}, headers=owner
    )
    code = created.json()["enrollment"]["code"]
    for _ in range(settings.enrollment_max_failures_per_address):
        refused = client.post("/v1/enroll", json={"code": "not-a-real-code"})
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_code"
    limited = client.post("/v1/enroll", json={"code": code})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "too_many_requests"
    assert int(limited.headers["retry-after"]) == settings.enrollment_window_seconds
    # Persisted, so it holds across requests and processes; other addresses are not limited.
    failures = session.exec(select(EnrollmentFailure)).all()
    assert len(failures) == settings.enrollment_max_failures_per_address
    other = TestClient(client.app, client=("203.0.113.5", 50000))
    assert other.post("/v1/enroll", json={"code": "still-not-a-code"}).status_code == 422
    clock.advance(timedelta(seconds=settings.enrollment_window_seconds + 1))
    assert client.post("/v1/enroll", json={"code": code}).status_code == 201
