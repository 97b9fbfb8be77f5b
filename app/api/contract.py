"""The contract the OpenAPI document states: every error a route can answer, as problem+json.

FastAPI declares only a route's success and its own validation model. Kairos answers every
error as `application/problem+json` (app/errors.py), so each route's refusals are declared
here once, from what the route is made of: its dependencies (who may call, in which study),
its parameters and body, and its method.
"""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute

from app.api.deps import REFUSALS
from app.errors import PROBLEM_JSON, ProblemOut

_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}
_REASONS = {
    400: "The body is not valid JSON",
    401: "No valid bearer token of the kind this route needs",
    403: "Your role in this study cannot do this",
    404: "No such resource, or not one you may see",
    409: "The resource's state refuses the change (a closed study, an erased participant, "
    "a concurrent edit, a duplicate)",
    413: "The body is larger than the server accepts",
    422: "A field is invalid; `errors` names every one",
    429: "Too many attempts; retry after `Retry-After` seconds",
    503: "The service cannot answer now",
}
# A state change can always meet a state that refuses it.
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_READ_ONLY_POSTS = {"/v1/auth/token", "/v1/studies/{study_id}/schedule/preview"}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these error statuses, each with the problem+json schema."""
    return {
        status: {
            "description": _REASONS[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for status in statuses
    }


def _dependants(dependant: Dependant) -> list[Dependant]:
    """The route's dependant and every dependency below it."""
    found = [dependant]
    for sub in dependant.dependencies:
        found.extend(_dependants(sub))
    return found


def route_problems(route: APIRoute) -> set[int]:
    """The error statuses a route can answer, from what it is made of."""
    statuses: set[int] = set()
    dependants = _dependants(route.dependant)
    for dependant in dependants:
        if dependant.call is not None:
            statuses.update(REFUSALS.get(dependant.call, ()))
    if any(d.path_params for d in dependants):
        statuses.add(404)
    if route.body_field or any(d.path_params or d.query_params for d in dependants):
        statuses.add(422)
    if route.body_field is not None:
        statuses.add(413)
        if not isinstance(route.body_field.field_info, Form):
            statuses.add(400)
    if (route.methods or set()) & _MUTATING and route.path not in _READ_ONLY_POSTS:
        statuses.add(409)
    return statuses


def declare_problems(router: APIRouter) -> None:
    """Add each route's problem responses to what the route declares itself."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            for status, response in problems(*route_problems(route)).items():
                route.responses.setdefault(status, response)


def _close_pattern_properties(node: Any) -> None:
    # JSON Schema admits keys no pattern matches unless told otherwise; the server refuses them.
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_properties(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_properties(value)


def contract_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as the server behaves: problem+json errors, closed key patterns."""
    document = FastAPI.openapi(app)  # cached by FastAPI until the routes change
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ProblemOut" not in schemas:
        problem = ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["ProblemOut"] = problem
        # Every 422 is declared as a problem, so FastAPI's own validation models are unused.
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        _close_pattern_properties(document)
    return document
