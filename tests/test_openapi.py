import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from app.openapi import openapi_document


def test_committed_openapi_matches_the_app() -> None:
    committed = (Path(__file__).parent.parent / "openapi.json").read_text()
    assert committed == openapi_document(), "openapi.json drifted: run `make openapi`"


def _document() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(openapi_document()))


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def test_every_error_is_declared_as_a_problem() -> None:
    for path, operations in _document()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ProblemOut"}


def test_routes_declare_what_they_are_made_of() -> None:
    paths = _document()["paths"]
    participant = paths["/v1/studies/{study_id}/participants/{participant_id}"]
    assert {"401", "404", "422"} <= set(participant["get"]["responses"])
    assert {"400", "403", "409", "413"} <= set(participant["patch"]["responses"])
    assert "403" not in participant["get"]["responses"]  # every member may read
    assert set(paths["/v1/me"]["get"]["responses"]) == {"200", "401"}
    assert {"401", "429"} <= set(paths["/v1/auth/token"]["post"]["responses"])
    assert "409" not in paths["/v1/auth/token"]["post"]["responses"]


def test_no_fastapi_validation_models_remain() -> None:
    document = _document()
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_local_times_are_declared_as_the_strings_they_are() -> None:
    nodes = list(_nodes(_document()))
    assert not [node for node in nodes if node.get("format") == "time"]
    wake = _document()["components"]["schemas"]["WakingHours"]["properties"]["wake"]
    assert wake["type"] == "string" and "pattern" in wake


def test_key_patterns_are_closed() -> None:
    for node in _nodes(_document()):
        if "patternProperties" in node:
            assert node["additionalProperties"] is False


def test_null_is_declared_only_where_a_patch_clears() -> None:
    schemas = _document()["components"]["schemas"]
    assert "anyOf" not in schemas["ParticipantUpdate"]["properties"]["timezone"]
    assert {"type": "null"} in schemas["ParticipantUpdate"]["properties"]["external_ref"]["anyOf"]
    assert {"type": "null"} in schemas["StudyUpdate"]["properties"]["block_size"]["anyOf"]
    assert "anyOf" not in schemas["StudyUpdate"]["properties"]["name"]
