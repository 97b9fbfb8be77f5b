"""Every operation of the committed contract, fuzzed by schemathesis as an owner, a
participant and no one: no 5xx, and every answer matches what openapi.json declares.

The suite's run is bounded and derandomized; `make fuzz` runs it longer with fresh seeds.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CONTRACT = schemathesis.openapi.from_path(Path(__file__).parent.parent / "openapi.json")
OPERATIONS = [result.ok() for result in CONTRACT.get_all_operations()]
EXAMPLES = int(os.environ.get("KAIROS_FUZZ_EXAMPLES", "3"))
FRESH_SEEDS = os.environ.get("KAIROS_FUZZ_FRESH") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _send(client: TestClient, request: dict[str, Any]) -> Any:
    """Send what schemathesis prepared (requests' keywords) through the test client."""
    request.pop("cookies", None)
    body = request.pop("data", None)
    if body is not None and not isinstance(body, dict):
        request["content"] = body
    elif body is not None:
        request["data"] = body
    return client.request(**request)


@pytest.mark.parametrize("caller", ["owner", "participant", "anonymous"])
def test_every_operation_keeps_its_contract(
    caller: str,
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
) -> None:
    study = make_study()
    person = enroll(study["id"])
    headers = {"owner": owner, "participant": person["headers"], "anonymous": {}}[caller]
    # Known ids reach past the 404 of a random one; no one's calls keep the random ids.
    known = {"study_id": study["id"], "participant_id": person["id"]}
    failures: list[str] = []
    for operation in OPERATIONS:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not FRESH_SEEDS,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            if caller != "anonymous":
                for name in list(case.path_parameters or {}):
                    if name in known:
                        case.path_parameters[name] = known[name]
            request = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
            case.validate_response(_send(client, request), checks=CHECKS)

        try:
            exercise()
        except Exception as failure:  # each operation's first failure, all reported at once
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
