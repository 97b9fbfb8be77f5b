"""Fixtures: every database test runs on SQLite and on PostgreSQL over a real connection.

Each backend gets its own freshly migrated database for the session; every test starts
from empty tables. Time comes from a FrozenClock.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import app.models  # noqa: F401
from app.auth import service as auth_service
from app.clock import FrozenClock
from app.db import make_engine, metadata, unit_of_work
from app.main import create_app
from app.migrate import upgrade
from app.push.fcm import FcmSender
from app.settings import Settings
from tests.fakes.fcm import FakeFcm

POSTGRES_URL = os.environ.get(
    "KAIROS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("KAIROS_REQUIRE_POSTGRES") == "1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def _postgres_admin() -> Engine | None:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            return engine
    except OperationalError:
        if REQUIRE_POSTGRES:
            raise
        return None


def create_postgres_database() -> tuple[str, Callable[[], None]]:
    """A new, empty database on the test server, and how to drop it."""
    admin = _postgres_admin()
    if admin is None:
        pytest.skip("PostgreSQL is not reachable (set KAIROS_REQUIRE_POSTGRES=1 to fail)")
    name = f"kairos_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return url, drop


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'kairos.db'}"
        upgrade(url)
        yield url
        return
    url, drop = create_postgres_database()
    upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The backend's engine with empty tables."""
    _empty_tables(engine)
    yield engine


@pytest.fixture
def session(db: Engine) -> Iterator[Session]:
    """For reading what the API stored: each statement sees the latest commits, locks nothing."""
    with Session(db.execution_options(isolation_level="AUTOCOMMIT")) as session:
        yield session


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-signing-secret-that-is-long-enough-for-hs256",
        # Cheap hashing keeps the suite fast; the algorithm is the production one.
        password_time_cost=1,
        password_memory_kib=64,
        max_body_bytes=64_000,
        # Tests run the jobs themselves, with the frozen clock.
        scheduler_enabled=False,
    )


@pytest.fixture
def client(db: Engine, settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, clock)) as client:
        yield client


@pytest.fixture
def make_staff(
    db: Engine, settings: Settings, clock: FrozenClock, client: TestClient
) -> Callable[..., dict[str, str]]:
    """Create a staff account and sign it in; returns its Authorization header."""

    def make(email: str | None = None) -> dict[str, str]:
        email = email or f"{uuid.uuid4().hex[:8]}@example.org"
        with unit_of_work(db) as session:
            auth_service.create_user(
                session, settings, email=email, password=PASSWORD, full_name=None, now=clock.now()
            )
        response = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
def owner(make_staff: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_staff("owner@example.org")


STUDY = {
    "name": "Tailoring pilot",
    "default_timezone": "Europe/Berlin",
    "arms": [
        {"key": "tailored", "policy": "tailored"},
        {"key": "random", "policy": "random"},
        {"key": "assessment", "policy": "assessment_only"},
    ],
}


@pytest.fixture
def make_study(client: TestClient, owner: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Create (and by default activate) a study owned by `owner`."""

    def make(
        activate: bool = True, headers: dict[str, str] | None = None, **fields: Any
    ) -> dict[str, Any]:
        headers = headers or owner
        response = client.post("/v1/studies", json={**STUDY, **fields}, headers=headers)
        assert response.status_code == 201, response.text
        study = response.json()
        if activate:
            response = client.post(f"/v1/studies/{study['id']}/activate", headers=headers)
            assert response.status_code == 200, response.text
            study = response.json()
        return study

    return make


@pytest.fixture
def enroll(client: TestClient, owner: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Create a participant in a study and enroll them; returns ids and a token header."""

    def make(study_id: str, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"timezone": "Europe/Berlin", **fields}
        created = client.post(
            f"/v1/studies/{study_id}/participants", json=body, headers=headers or owner
        )
        assert created.status_code == 201, created.text
        code = created.json()["enrollment"]["code"]
        enrolled = client.post("/v1/enroll", json={"code": code})
        assert enrolled.status_code == 201, enrolled.text
        return {
            "id": created.json()["id"],
            "pseudonym": created.json()["pseudonym"],
            "headers": {"Authorization": f"Bearer {enrolled.json()['token']}"},
        }

    return make


@pytest.fixture(scope="session")
def fake_fcm_server() -> Iterator[FakeFcm]:
    with FakeFcm() as server:
        yield server


@pytest.fixture
def fake_fcm(fake_fcm_server: FakeFcm) -> FakeFcm:
    """The fake FCM server over real HTTP on 127.0.0.1, with no scripts or records."""
    fake_fcm_server.reset()
    return fake_fcm_server


@pytest.fixture
def fcm_sender(fake_fcm: FakeFcm, tmp_path: Path, clock: FrozenClock) -> Iterator[FcmSender]:
    """The production FCM sender, pointed at the fake server by its endpoint setting. Its
    timeout is generous: a batch of 500 on a loaded 2-core machine can take seconds, and only
    tests/test_push.py tests the timeout itself (with a sender of its own)."""
    sender = FcmSender(
        fake_fcm.service_account_file(tmp_path), endpoint=fake_fcm.url, timeout=30.0, clock=clock
    )
    yield sender
    sender.close()
