"""One unit of work per edge: each request, job run and command commits once (or, when it
is refused, not at all), counted on the engine itself."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from app.cli import cli
from app.clock import FrozenClock
from app.push.log import LogSender
from app.settings import Settings
from app.worker import Jobs
from tests.conftest import PASSWORD, START
from tests.test_checkins import BASE, FUSED, checkin


class Commits:
    def __init__(self) -> None:
        self.count = 0

    def counted(self, call: Callable[[], Any]) -> tuple[Any, int]:
        before = self.count
        result = call()
        return result, self.count - before


@pytest.fixture
def commits(db: Engine) -> Iterator[Commits]:
    """Commits on every engine (a command makes its own), from the test's start on."""
    counter = Commits()

    def count(_connection: object) -> None:
        counter.count += 1

    event.listen(Engine, "commit", count)
    yield counter
    event.remove(Engine, "commit", count)


def test_every_request_of_a_trial_commits_once_and_a_refused_one_not_at_all(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
    commits: Commits,
) -> None:
    study = make_study()
    base = f"/v1/studies/{study['id']}"
    schedule = {"schedule": {"fixed_times": ["13:00"], "last_day": 28}}
    person = enroll(study["id"])
    participant = f"{base}/participants/{person['id']}"
    me = person["headers"]
    clock.set(START + timedelta(minutes=2))
    once: list[tuple[str, Callable[[], Any]]] = [
        ("read", lambda: client.get(base, headers=owner)),
        ("schedule", lambda: client.put(f"{base}/schedule", json=schedule, headers=owner)),
        ("override", lambda: client.put(
            f"{participant}/schedule-override",
            json={"schedule": {"fixed_times": ["10:00"], "last_day": 28}, "reason": "nights"},
            headers=owner,
        )),
        ("waking", lambda: client.put(
            f"{participant}/waking-hours", json={"wake": "07:00", "sleep": "22:00"}, headers=owner
        )),
        ("device", lambda: client.put(
            "/v1/me/device", json={"token": "t-1", "platform": "android"}, headers=me
        )),
        ("check-in", lambda: client.post("/v1/checkins", json=checkin(FUSED), headers=me)),
        ("risk", lambda: client.post(
            "/v1/checkins", json=checkin({**BASE, "risk": 95}), headers=me
        )),
        ("preferences", lambda: client.put(
            "/v1/me/preferences", json={"preferred_skills": ["leaves_on_a_stream"]}, headers=me
        )),
        ("pause", lambda: client.post(
            f"{participant}/status", json={"status": "paused"}, headers=owner
        )),
        ("resume", lambda: client.post(
            f"{participant}/status", json={"status": "active"}, headers=owner
        )),
        ("my data", lambda: client.get("/v1/me/data", headers=me)),
        ("sign-in", lambda: client.post(
            "/v1/auth/token", data={"username": "owner@example.org", "password": PASSWORD}
        )),
        # A refused sign-in still counts toward the limits: it commits that, and refuses.
        ("wrong password", lambda: client.post(
            "/v1/auth/token", data={"username": "owner@example.org", "password": "nope"}
        )),
    ]  # fmt: skip
    for name, call in once:
        response, count = commits.counted(call)
        assert response.is_success or name == "wrong password", (name, response.text)
        assert count == 1, name
    refused: list[tuple[str, Callable[[], Any]]] = [
        ("bad answers", lambda: client.post("/v1/checkins", json=checkin({"x": 1}), headers=me)),
        ("closed arm edit", lambda: client.post(
            f"{base}/arms", json={"key": "late", "policy": "random"}, headers=owner
        )),
        ("nobody's participant", lambda: client.get(
            f"{base}/participants/{study['id']}", headers=owner
        )),
    ]  # fmt: skip
    for name, call in refused:
        response, count = commits.counted(call)
        assert 400 <= response.status_code < 500, (name, response.text)
        assert count == 0, name


def test_a_streamed_export_commits_its_request_and_then_its_audit_event(
    client: TestClient, owner: dict, make_study: Callable, commits: Commits
) -> None:
    study = make_study()
    response, count = commits.counted(
        lambda: client.get(f"/v1/studies/{study['id']}/exports/participants", headers=owner)
    )
    assert response.status_code == 200
    # The request's own unit, the read-only snapshot the rows stream from, then the audit
    # event with the rows that went out.
    assert count == 3


def test_each_job_run_commits_once(
    db: Engine,
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    settings: Settings,
    clock: FrozenClock,
    commits: Commits,
) -> None:
    study = make_study()
    schedule = {"schedule": {"fixed_times": ["13:00"], "last_day": 28}}
    client.put(f"/v1/studies/{study['id']}/schedule", json=schedule, headers=owner)
    person = enroll(study["id"])
    device = {"token": "t-1", "platform": "android"}
    client.put("/v1/me/device", json=device, headers=person["headers"])
    jobs = Jobs(db, LogSender(), clock, settings, "worker-1")
    for name in ("plan", "expire", "reap"):
        _, count = commits.counted(getattr(jobs, name))
        assert count == 1, name
    _, idle = commits.counted(jobs.dispatch)
    assert idle == 1  # the claim, which found nothing due
    clock.set(START + timedelta(hours=3, minutes=1))  # 13:00 in Berlin
    sent, count = commits.counted(jobs.dispatch)
    # One batch: the claim, the rows read and held, the results of the sends.
    assert (sent, count) == (1, 3)


def test_each_command_commits_once(
    tmp_path: Path, db: Engine, client: TestClient, make_study: Callable, commits: Commits
) -> None:
    study = make_study()
    runner = CliRunner()
    env = {
        "KAIROS_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "KAIROS_VAR_DIR": str(tmp_path / "var"),
        "KAIROS_PASSWORD_MEMORY_KIB": "64",
        "KAIROS_PASSWORD_TIME_COST": "1",
    }
    create = ["admin", "create-user", "--email", "cli@example.org", "--password", "long enough pw"]
    created, count = commits.counted(lambda: runner.invoke(cli, create, env=env))
    assert created.exit_code == 0, created.output
    assert count == 1
    export = ["export", study["id"], "--table", "participants", "--out", str(tmp_path / "p.csv")]
    exported, count = commits.counted(lambda: runner.invoke(cli, export, env=env))
    assert exported.exit_code == 0, exported.output
    # Reading the study, the read-only snapshot, then the audit event once the rows are out.
    assert count == 3
