"""The input boundary over every route: text no database stores, numbers and dates out of
what the databases hold, and field paths that always name their location."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.api.boundary import UNSTORABLE_TYPE
from app.errors import LOCATIONS, Invalid, field_path
from app.main import create_app
from app.settings import Settings
from app.types import INT32_MAX
from tests.conftest import STUDY
from tests.test_bad_input import CASES, table_counts

_APP = create_app(Settings(database_url="sqlite://"))
_SPEC = _APP.openapi()
_SCHEMAS = _SPEC["components"]["schemas"]
_PARTICIPANT_ROUTES = ("/v1/me", "/v1/prompts", "/v1/deliveries", "/v1/checkins", "/v1/enroll")


@dataclass(frozen=True)
class Leaf:
    """One input of an operation: where it goes, its schema, and the body fields it needs
    around it (a union's tag) to be validated at all."""

    location: str  # path, query or body
    loc: tuple[str | int, ...]  # below the location
    schema: dict[str, Any]
    tags: tuple[tuple[tuple[str | int, ...], str], ...] = ()

    @property
    def field(self) -> str:
        return field_path((self.location, *self.loc))


def _resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _SCHEMAS[name], name
    return schema, None


def _leaves(
    schema: dict[str, Any],
    loc: tuple[str | int, ...],
    seen: frozenset[str],
    tags: tuple[tuple[tuple[str | int, ...], str], ...],
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any], tuple[Any, ...]]]:
    schema, name = _resolve(schema)
    if name in seen:
        return  # a recursive schema (rule expressions): its fields were walked once
    seen = seen | {name} if name else seen
    mapping = schema.get("discriminator", {}).get("mapping", {})
    by_ref = {ref: tag for tag, ref in mapping.items()}
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        tag = by_ref.get(branch.get("$ref"))
        prop = schema.get("discriminator", {}).get("propertyName")
        more = ((*loc, prop), tag) if tag else None
        yield from _leaves(branch, loc, seen, (*tags, more) if more else tags)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        for key, sub in schema.get("properties", {}).items():
            yield from _leaves(sub, (*loc, key), seen, tags)
        if isinstance(schema.get("additionalProperties"), dict):
            yield from _leaves(schema["additionalProperties"], (*loc, "mood"), seen, tags)
    elif kind == "array" and "items" in schema:
        yield from _leaves(schema["items"], (*loc, 0), seen, tags)
    elif kind in ("string", "integer", "number", "boolean"):
        yield loc, schema, tags


def operation_leaves(path: str, method: str) -> list[Leaf]:
    operation = _SPEC["paths"][path][method]
    # A parameter is named by itself, a list of them too (query.participant).
    leaves = [
        Leaf(param["in"], (param["name"],), schema, tags)
        for param in operation.get("parameters", [])
        if param["in"] in ("path", "query")
        for _, schema, tags in _leaves(param["schema"], (), frozenset(), ())
    ]
    for media in operation.get("requestBody", {}).get("content", {}).values():
        leaves += [
            Leaf("body", sub, schema, tags)
            for sub, schema, tags in _leaves(media["schema"], (), frozenset(), ())
        ]
    return leaves


def _operations() -> list[tuple[str, str]]:
    """Every route the app serves, from its OpenAPI document (FastAPI builds it from the
    routes themselves), as (path template, method)."""
    return [(path, method) for path, methods in _SPEC["paths"].items() for method in methods]


def _id(operation: tuple[str, str]) -> str:
    return f"{operation[1].upper()} {operation[0]}"


def _is_form(path: str, method: str) -> bool:
    operation = _SPEC["paths"][path][method]
    return "application/x-www-form-urlencoded" in operation.get("requestBody", {}).get(
        "content", {}
    )


def _put(document: Any, loc: tuple[str | int, ...], value: Any) -> Any:
    """The document with value set at loc, creating objects and one-item lists on the way."""
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    if isinstance(head, int):
        items = document if isinstance(document, list) else [{}]
        items[0] = _put(items[0], rest, value)
        return items
    mapping = document if isinstance(document, dict) else {}
    mapping[head] = _put(mapping.get(head), rest, value)
    return mapping


@pytest.fixture
def world(client: TestClient, owner: dict, make_study: Callable, enroll: Callable) -> dict:
    study = make_study()
    person = enroll(study["id"])
    return {"study_id": study["id"], "participant_id": person["id"], "person": person}


def _send(
    client: TestClient,
    world: dict,
    owner: dict,
    path: str,
    method: str,
    leaf: Leaf,
    value: Any,
) -> Any:
    """The operation with `value` in one input, every other path parameter a real id."""
    path_values = {
        param["name"]: world.get(param["name"], "00000000-0000-4000-8000-000000000000")
        for param in _SPEC["paths"][path][method].get("parameters", [])
        if param["in"] == "path"
    }
    body: Any = None
    query: dict[str, Any] = {}
    if leaf.location == "path":
        path_values[str(leaf.loc[0])] = value
    elif leaf.location == "query":
        query[str(leaf.loc[0])] = value
    else:
        body = _put({}, leaf.loc, value)
        for loc, tag in leaf.tags:
            if loc != leaf.loc:  # the tag itself is the input under test
                body = _put(body, loc, tag)
    url = path.format(**{k: quote(str(v), safe="") for k, v in path_values.items()})
    headers = world["person"]["headers"] if url.startswith(_PARTICIPANT_ROUTES) else owner
    if _is_form(path, method):
        return client.request(method, url, params=query, data=body, headers=headers)
    # Escaped as \uXXXX, as a client's JSON encoder sends what UTF-8 cannot carry.
    content = None if body is None else json.dumps(body)
    headers = {**headers, "Content-Type": "application/json"}
    return client.request(method, url, params=query, content=content, headers=headers)


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


STRING_OPERATIONS = [
    operation
    for operation in _operations()
    if any(leaf.schema.get("type") == "string" for leaf in operation_leaves(*operation))
]


def test_the_walk_reaches_forms_paths_queries_and_free_text() -> None:
    walked = {_id(operation) for operation in STRING_OPERATIONS}
    for expected in (
        "POST /v1/auth/token",
        "POST /v1/checkins",
        "DELETE /v1/studies/{study_id}/members/{email}",
        "GET /v1/studies/{study_id}/exports/{table}",
        "PUT /v1/me/device",
    ):
        assert expected in walked


@pytest.mark.parametrize("operation", STRING_OPERATIONS, ids=_id)
def test_every_string_input_refuses_what_no_database_stores(
    client: TestClient,
    owner: dict,
    world: dict,
    session: Session,
    operation: tuple[str, str],
) -> None:
    path, method = operation
    before = table_counts(session)
    for leaf in operation_leaves(path, method):
        if leaf.schema.get("type") != "string":
            continue
        # A URL or a form carries no lone surrogate: both are decoded as UTF-8.
        json_body = leaf.location == "body" and not _is_form(path, method)
        for bad in ("a\x00b", "a\ud800b") if json_body else ("a\x00b",):
            response = _send(client, world, owner, path, method, leaf, bad)
            assert response.status_code == 422, (leaf.field, response.text)
            problem = response.json()
            assert problem["code"] == UNSTORABLE_TYPE, (leaf.field, problem)
            assert leaf.field in _fields(response), (leaf.field, problem)
    assert table_counts(session) == before


@pytest.mark.parametrize(
    "document",
    ['{"name": "x", "n": NaN}', '{"name": "x", "n": Infinity}', '{"name": "x", "n": 1e400}'],
)
def test_numbers_that_are_not_finite_are_refused(
    client: TestClient, owner: dict, session: Session, document: str
) -> None:
    before = table_counts(session)
    response = client.post(
        "/v1/studies", content=document, headers={**owner, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and _fields(response) == ["body.n"], response.text
    assert table_counts(session) == before


# Out of what the databases hold, or at the edge of Python's own range.
_OUT_OF_RANGE = {
    "integer": [INT32_MAX + 1, -(2**31) - 1],
    "date": ["9999-12-31", "0001-01-01"],
    "date-time": ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
}


def _bounded_kind(leaf: Leaf) -> str | None:
    if leaf.schema.get("type") == "integer":
        return "integer"
    if leaf.schema.get("format") in ("date", "date-time"):
        return str(leaf.schema["format"])
    return None


BOUNDED_OPERATIONS = [
    operation
    for operation in _operations()
    if any(_bounded_kind(leaf) for leaf in operation_leaves(*operation))
]


def test_every_integer_input_declares_bounds_a_column_holds() -> None:
    for operation in _operations():
        for leaf in operation_leaves(*operation):
            if leaf.schema.get("type") == "integer":
                low = leaf.schema.get("minimum", leaf.schema.get("exclusiveMinimum"))
                high = leaf.schema.get("maximum", leaf.schema.get("exclusiveMaximum"))
                assert low is not None and high is not None, (_id(operation), leaf.field)
                assert low >= -(2**31) and high <= INT32_MAX, (_id(operation), leaf.field)


@pytest.mark.parametrize("operation", BOUNDED_OPERATIONS, ids=_id)
def test_every_integer_and_date_out_of_range_is_a_422_naming_it(
    client: TestClient,
    owner: dict,
    world: dict,
    session: Session,
    operation: tuple[str, str],
) -> None:
    path, method = operation
    before = table_counts(session)
    for leaf in operation_leaves(path, method):
        if (kind := _bounded_kind(leaf)) is None:
            continue
        for value in _OUT_OF_RANGE[kind]:
            response = _send(client, world, owner, path, method, leaf, value)
            assert response.status_code == 422, (leaf.field, value, response.text)
            fields = _fields(response)
            # A union's member names itself in pydantic's path (items[0].slider.min).
            named = [f for f in fields if f.split(".")[-1] == leaf.field.split(".")[-1]]
            assert named, (leaf.field, value, fields)
    assert table_counts(session) == before


def test_a_far_end_date_on_compliance_and_scores_and_a_far_export_range_are_refused(
    client: TestClient, owner: dict, world: dict
) -> None:
    study = f"/v1/studies/{world['study_id']}"
    for url, params, field in [
        (f"{study}/compliance", {"end": "9999-12-31"}, "query.end"),
        (
            f"{study}/participants/{world['participant_id']}/scores",
            {"end": "9999-12-31"},
            "query.end",
        ),
        (f"{study}/exports/prompts", {"start": "0001-01-01T00:00:00+14:00"}, "query.start"),
        (f"{study}/exports/bundle", {"end": "9999-12-31T23:59:59-14:00"}, "query.end"),
    ]:
        response = client.get(url, params=params, headers=owner)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in _fields(response)
    # The widest range allowed runs to the end.
    wide = client.get(
        f"{study}/exports/bundle",
        params={"start": "1900-01-01T00:00:00Z", "end": "2999-12-31T23:59:59Z"},
        headers=owner,
    )
    assert wide.status_code == 200 and wide.content.startswith(b"PK")


def test_a_check_in_version_beyond_a_column_is_refused(
    client: TestClient, world: dict, session: Session
) -> None:
    before = table_counts(session)
    response = client.post(
        "/v1/checkins",
        json={
            "client_id": "c-big",
            "answered_at": "2026-03-02T09:00:00Z",
            "answers": {},
            "questionnaire_version": 2**31,
        },
        headers=world["person"]["headers"],
    )
    assert response.status_code == 422
    assert "body.questionnaire_version" in _fields(response)
    assert table_counts(session) == before


def test_every_field_a_problem_names_starts_with_its_location(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    """Over the bad-input cases: FastAPI's errors and ours name fields the same way."""
    draft, active = make_study(activate=False), make_study()
    person = enroll(active["id"])
    for method, template, body, _status, _field in CASES:
        path = template.format(draft=draft["id"], active=active["id"], person_id=person["id"])
        headers = person["headers"] if path.startswith(_PARTICIPANT_ROUTES) else owner
        response = client.request(method, path, json=body, headers=headers)
        for field in _fields(response) if response.status_code == 422 else []:
            assert field.split(".")[0].split("[")[0] in LOCATIONS, (template, field)
    with pytest.raises(ValueError, match="does not start with"):
        Invalid("arms[1].key", "a path without its location")


def test_a_duplicate_arm_key_names_its_body_path(client: TestClient, owner: dict) -> None:
    arms = [{"key": "a", "policy": "random"}, {"key": "a", "policy": "tailored"}]
    response = client.post("/v1/studies", json={**STUDY, "arms": arms}, headers=owner)
    assert response.status_code == 422
    assert _fields(response) == ["body.arms[1].key"]


def test_an_impossible_block_size_is_refused_when_given(
    client: TestClient, owner: dict, make_study: Callable, session: Session
) -> None:
    before = table_counts(session)
    three_arms = {**STUDY, "block_size": 4}  # three arms of weight 1 fill blocks of 3, 6, ...
    created = client.post("/v1/studies", json=three_arms, headers=owner)
    assert created.status_code == 422 and _fields(created) == ["body.block_size"]
    arms = [{"key": "a", "policy": "random", "weight": 2}, {"key": "b", "policy": "tailored"}]
    weighted = {**STUDY, "arms": arms, "block_size": 4}  # weights 2:1 fill blocks of 3, 6, ...
    refused = client.post("/v1/studies", json=weighted, headers=owner)
    assert refused.status_code == 422 and _fields(refused) == ["body.block_size"]
    assert table_counts(session) == before
    draft = make_study(activate=False)
    updated = client.patch(f"/v1/studies/{draft['id']}", json={"block_size": 5}, headers=owner)
    assert updated.status_code == 422 and _fields(updated) == ["body.block_size"]
    fits = client.patch(f"/v1/studies/{draft['id']}", json={"block_size": 9}, headers=owner)
    assert fits.status_code == 200 and fits.json()["block_size"] == 9


def test_dry_run_for_an_invited_participant_is_a_conflict(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study()
    invited = client.post(
        f"/v1/studies/{study['id']}/participants", json={"timezone": "UTC"}, headers=owner
    )
    assert invited.status_code == 201
    response = client.post(
        f"/v1/studies/{study['id']}/rules/dry-run",
        json={"answers": {}, "participant_id": invited.json()["id"]},
        headers=owner,
    )
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "participant_not_enrolled"


def test_a_clinicians_dry_run_for_a_concealed_arm_is_forbidden(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    make_staff: Callable,
) -> None:
    study = make_study()  # clinicians_see_arm is false by default
    person = enroll(study["id"])
    clinician = make_staff("clinician@example.org")
    added = client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": "clinician@example.org", "role": "clinician"},
        headers=owner,
    )
    assert added.is_success, added.text
    response = client.post(
        f"/v1/studies/{study['id']}/rules/dry-run",
        json={"answers": {}, "participant_id": person["id"]},
        headers=clinician,
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "arm_concealed"
