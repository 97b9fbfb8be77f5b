import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.clock import FrozenClock
from app.db import make_engine
from app.main import create_app
from app.settings import Settings


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    given = client.get("/v1/studies", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    assert given.json()["request_id"] == "trace-123"


def test_server_refuses_a_schema_that_is_behind(tmp_path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", var_dir=tmp_path)
    app = create_app(settings)
    try:
        with TestClient(app):
            raise AssertionError("the app started on an unmigrated database")
    except RuntimeError as exc:
        assert "kairos migrate" in str(exc)


def test_readyz_reports_a_schema_that_is_behind(client: TestClient, db) -> None:
    from sqlalchemy import text

    with db.begin() as connection:
        heads = [
            row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        ]
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('older')"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "schema_behind"
    finally:
        with db.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for head in heads:
                connection.execute(
                    text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head}
                )


def test_an_unhandled_error_is_a_logged_problem_with_the_request_id(
    db: Engine, settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, db, clock)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app) as client, caplog.at_level(logging.ERROR, "kairos.errors"):
        response = client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "trace-500"
    assert "secret internals" not in response.text
    [record] = caplog.records
    # The traceback is in the message, formatted without a database error's values.
    assert "RuntimeError: secret internals" in record.getMessage()
    assert "raise RuntimeError" in record.getMessage()


def test_readyz_reports_an_unreachable_database(settings: Settings) -> None:
    # Port 9 (discard) refuses on loopback; no lifespan runs, so the app starts regardless.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    response = TestClient(create_app(settings, engine)).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unreachable"
    assert response.headers["x-request-id"] == response.json()["request_id"]
