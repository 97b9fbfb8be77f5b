"""Logs: JSON lines with the request id and the study id, and none of the answers."""

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.clock import FrozenClock
from app.db import make_engine
from app.logs import make_handler
from app.settings import Settings
from tests.conftest import START
from tests.test_checkins import BASE

# Answers no log line could hold by chance.
ANSWERS = {**BASE, "distress": 37, "risk": 3}


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = make_handler(Settings(log_format="json"), stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_check_in_is_logged_with_its_request_id_and_none_of_its_answers(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    study = make_study()
    person = enroll(study["id"])
    clock.set(START + timedelta(minutes=2))
    body = {
        "client_id": uuid.uuid4().hex,
        "answered_at": (START + timedelta(minutes=1)).isoformat(),
        "answers": ANSWERS,
    }
    request_id = f"checkin-{uuid.uuid4().hex}"
    headers = {**person["headers"], "X-Request-ID": request_id}
    response = client.post("/v1/checkins", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert client.get(f"/v1/studies/{study['id']}", headers=owner).status_code == 200

    lines = json_lines()
    [access] = [line for line in lines if line["request_id"] == request_id]
    assert access["logger"] == "kairos.http" and access["level"] == "INFO"
    assert access["message"].startswith("POST /v1/checkins 201")
    assert {"time", "study_id"} <= access.keys()
    token = person["headers"]["Authorization"].removeprefix("Bearer ")
    everything = "\n".join(json.dumps(line) for line in lines)
    for secret in (token, "owner@example.org", body["client_id"], '"answers"', "distress"):
        assert secret not in everything
    # A route that names a study puts its id on the line.
    [study_line] = [line for line in lines if line["message"].startswith("GET /v1/studies/{")]
    assert study_line["study_id"] == study["id"]


def test_text_is_the_default_and_names_the_request() -> None:
    assert Settings().log_format == "text"
    stream = io.StringIO()
    logger = logging.getLogger("kairos.test")
    handler = make_handler(Settings(), stream)
    logger.addHandler(handler)
    try:
        logger.warning("plain words")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("WARNING kairos.test [None]: plain words")


def test_a_failed_statement_does_not_carry_its_parameters_into_a_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kairos.db'}")
    with pytest.raises(OperationalError) as failed, engine.connect() as connection:
        connection.execute(text("INSERT INTO no_such_table VALUES (:answer)"), {"answer": "secret"})
    assert "secret" not in str(failed.value)
    engine.dispose()
