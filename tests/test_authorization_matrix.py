"""Every route that touches study data, against every kind of caller who must not get in.

Routes are enumerated from the app itself, so a route added later is covered without
editing this file.
"""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from app.settings import Settings

PUBLIC = {"/healthz", "/readyz", "/v1/auth/token", "/v1/enroll"}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in client.app.routes
        if isinstance(route, APIRoute) and route.path not in PUBLIC
        for method in route.methods
    )


def _fill(path: str, study_id: str) -> str:
    path = path.replace("{study_id}", study_id)
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, path, json=body, headers=headers)


def _comparable(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("code"), body.get("detail")


@pytest.fixture
def world(
    client: TestClient, owner: dict, make_staff: Callable, make_study: Callable, enroll: Callable
) -> dict[str, Any]:
    study = make_study()
    person = enroll(study["id"])
    outsider = make_staff("outsider@example.org")
    make_study(headers=outsider, name="The outsider's own study")
    return {"study": study["id"], "participant": person["headers"], "outsider": outsider}


def test_a_member_of_another_study_learns_nothing(client: TestClient, world: dict) -> None:
    for method, path in _routes(client):
        if "{study_id}" not in path:
            continue
        real = _call(client, method, _fill(path, world["study"]), world["outsider"])
        absent = _call(client, method, _fill(path, str(uuid.uuid4())), world["outsider"])
        assert real.status_code == 404, (method, path, real.text)
        assert _comparable(real) == _comparable(absent), (method, path)


def test_participant_tokens_never_reach_staff_routes(client: TestClient, world: dict) -> None:
    for method, path in _routes(client):
        if not path.startswith("/v1/studies") and not path.startswith("/v1/users"):
            continue
        response = _call(client, method, _fill(path, world["study"]), world["participant"])
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "invalid_token"


def test_staff_tokens_never_reach_participant_routes(
    client: TestClient, world: dict, owner: dict
) -> None:
    staff_only = ("/v1/studies", "/v1/users")
    for method, path in _routes(client):
        if path.startswith(staff_only):
            continue
        response = _call(client, method, _fill(path, world["study"]), owner)
        assert response.status_code == 401, (method, path, response.text)


def test_no_token_and_expired_token_are_401_everywhere(
    client: TestClient, world: dict, owner: dict, clock: FrozenClock, settings: Settings
) -> None:
    routes = _routes(client)
    for method, path in routes:
        response = _call(client, method, _fill(path, world["study"]), {})
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "not_authenticated"
    clock.advance(timedelta(minutes=settings.access_token_minutes + 1))
    for method, path in routes:
        if path.startswith(("/v1/studies", "/v1/users")):
            response = _call(client, method, _fill(path, world["study"]), owner)
            assert response.json()["code"] == "token_expired", (method, path)
