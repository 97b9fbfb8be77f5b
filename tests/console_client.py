"""Signing in to the console through its form with a TestClient, for tests of the console's
answers that need no browser (headers, cookies, refusals)."""

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.clock import FrozenClock
from tests.conftest import PASSWORD, START
from tests.test_checkins import FUSED

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def console_sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token (the client keeps the cookie)."""
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/studies").text)


def sign_in_as(client: TestClient, email: str) -> str:
    """Sign in as `email` in place of whoever was signed in; the new session's CSRF token."""
    client.cookies.clear()
    return console_sign_in(client, email)


def add_members(
    client: TestClient,
    owner: dict[str, str],
    make_staff: Callable[..., dict[str, str]],
    study: dict[str, Any],
    roles: Mapping[str, str],
) -> None:
    """A staff account for each email of `roles`, made a member of the study in its role."""
    for email, role in roles.items():
        make_staff(email)
        added = client.put(
            f"/v1/studies/{study['id']}/members", json={"email": email, "role": role}, headers=owner
        )
        assert added.status_code == 200, added.text


def flagged_participant(
    client: TestClient,
    owner: dict[str, str],
    enroll: Callable[..., dict[str, Any]],
    clock: FrozenClock,
    study: dict[str, Any],
) -> dict[str, Any]:
    """A participant of `study` flagged for review: the study flags after two check-ins and
    theirs keep cognition fused (no targeted dimension improves)."""
    settings = client.put(
        f"/v1/studies/{study['id']}/review-settings", json={"min_checkins": 2}, headers=owner
    )
    assert settings.status_code == 200, settings.text
    person = enroll(study["id"])
    for minutes in (5, 10):
        clock.set(START + timedelta(minutes=minutes))
        body = {
            "client_id": uuid.uuid4().hex,
            "answered_at": clock.now().isoformat(),
            "answers": FUSED,
        }
        response = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert response.status_code == 201, response.text
    return person
