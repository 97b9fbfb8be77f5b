"""Shared set-up of the benchmarks: a throwaway PostgreSQL database, seeded in bulk; a
server process on a free port; a study with participants enrolled through the API; `wrk`,
the load generator (a C program, so that the client is not the limit)."""

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.auth import service as auth_service
from app.auth.models import StaffUser
from app.db import make_engine, unit_of_work
from app.migrate import upgrade
from app.scheduling.models import StudySchedule
from app.settings import Settings
from app.studies.models import Arm, Device, Participant, Study
from app.vocabulary import ParticipantStatus, StudyStatus

SERVER = os.environ.get(
    "KAIROS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "UTC")


@contextmanager
def throwaway_database() -> Iterator[Engine]:
    """A freshly migrated database on the PostgreSQL server, dropped afterwards."""
    name = f"kairos_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(url)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bulk_insert(engine: Engine, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        for first in range(0, len(rows), 5000):
            connection.execute(insert(model.__table__), list(rows[first : first + 5000]))  # type: ignore[attr-defined]


def bulk_participants(
    engine: Engine,
    study_id: uuid.UUID,
    arm_id: uuid.UUID | None,
    count: int,
    enrolled: datetime,
    prefix: str = "P",
) -> list[dict[str, Any]]:
    """`count` active participants of one arm, enrolled then, across several zones, inserted
    in bulk: their rows."""
    people = [
        Participant(
            study_id=study_id,
            pseudonym=f"{prefix}{n:07d}",
            timezone=ZONES[n % len(ZONES)],
            status=ParticipantStatus.active,
            arm_id=arm_id,
            created_at=enrolled,
            enrolled_at=enrolled,
            status_changed_at=enrolled,
        ).model_dump()
        for n in range(count)
    ]
    bulk_insert(engine, Participant, people)
    return people


def seed_study(
    engine: Engine, participants: int, schedule: dict[str, Any], now: datetime, devices: bool
) -> uuid.UUID:
    """An active study with `participants` enrolled a day ago, across several zones."""
    user = StaffUser(email="bench@example.org", password_hash="-", created_at=now)
    study = Study(
        name="Benchmark",
        status=StudyStatus.active,
        default_timezone="UTC",
        randomization_seed="bench",
        created_by=user.id,
        created_at=now,
        updated_at=now,
        activated_at=now,
    )
    arm = Arm(study_id=study.id, key="tailored", policy="tailored")
    study_id, arm_id = study.id, arm.id
    with Session(engine) as session:
        session.add(user)
        session.flush()
        session.add(study)
        session.flush()
        session.add(arm)
        session.add(
            StudySchedule(
                study_id=study.id,
                version=1,
                schedule=schedule,
                notification={},
                created_by=user.id,
                created_at=now,
            )
        )
        session.commit()
    people = bulk_participants(engine, study_id, arm_id, participants, now - timedelta(days=1))
    if devices:
        bulk_insert(
            engine,
            Device,
            [
                Device(
                    participant_id=person["id"],
                    identifier=f"bench-token-{n}",
                    platform="android",
                    created_at=now,
                    last_seen_at=now,
                ).model_dump()
                for n, person in enumerate(people)
            ],
        )
    return study_id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server_process(
    command: Sequence[str], log_path: Path, ready_path: str, start_timeout: float
) -> Iterator[tuple[str, int]]:
    """A benchmark's server (`command` and `--port N`, a free port) up once `ready_path`
    answers, its output in `log_path` (whose tail a server that does not start shows), and
    stopped on the way out (killed after 10 s): its base URL and process id."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([*command, "--port", str(port)], stderr=log, stdout=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if process.poll() is not None:
                    log.flush()
                    raise RuntimeError(
                        f"the server exited with {process.returncode}; its log:\n"
                        + log_path.read_text()[-2000:]
                    )
                try:
                    httpx.get(base + ready_path, timeout=2.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        log.flush()
                        raise RuntimeError(
                            "the server did not start; its log:\n" + log_path.read_text()[-2000:]
                        ) from None
                    time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def enrolled_study(
    engine: Engine,
    settings: Settings,
    client: httpx.Client,
    *,
    email: str,
    password: str,
    name: str,
    participants: int,
    schedule: dict[str, Any] | None = None,
) -> tuple[str, list[str]]:
    """A staff account, its active one-arm (tailored) study in UTC (with `schedule`, if
    given) and `participants` people enrolled through the API (`client` is on the server):
    the study's id and the participants' tokens."""
    with unit_of_work(engine) as session:
        auth_service.create_user(
            session, settings, email=email, password=password, full_name=None, now=datetime.now(UTC)
        )
    signed_in = client.post("/v1/auth/token", data={"username": email, "password": password})
    signed_in.raise_for_status()
    staff = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    study = client.post(
        "/v1/studies",
        json={
            "name": name,
            "default_timezone": "UTC",
            "arms": [{"key": "tailored", "policy": "tailored"}],
        },
        headers=staff,
    )
    study.raise_for_status()
    study_id: str = study.json()["id"]
    if schedule is not None:
        client.put(
            f"/v1/studies/{study_id}/schedule", json={"schedule": schedule}, headers=staff
        ).raise_for_status()
    client.post(f"/v1/studies/{study_id}/activate", headers=staff).raise_for_status()
    tokens = []
    for _ in range(participants):
        created = client.post(
            f"/v1/studies/{study_id}/participants", json={"timezone": "UTC"}, headers=staff
        )
        created.raise_for_status()
        enrolled = client.post("/v1/enroll", json={"code": created.json()["enrollment"]["code"]})
        enrolled.raise_for_status()
        tokens.append(enrolled.json()["token"])
    return study_id, tokens


# Counts the 5xx and prints the figures: the end of every wrk script (its % doubled, for
# the scripts that are %-formatted).
REPORT = """
errors5xx = 0  -- a global: done() reads it of each thread
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status >= 500 then errors5xx = errors5xx + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("errors5xx") end
  io.write(string.format("KAIROS_5XX %%d\\n", total))
  io.write(string.format("KAIROS_P50 %%f\\n", latency:percentile(50) / 1000))
  io.write(string.format("KAIROS_P99 %%f\\n", latency:percentile(99) / 1000))
  io.write(string.format("KAIROS_REQUESTS %%d\\n", summary.requests))
  io.write(string.format("KAIROS_NON2XX %%d\\n", summary.errors.status))
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("KAIROS_SOCKET %%d\\n", socket))
end
"""


@dataclass
class Run:
    rate: float  # requests per second
    p50: float  # ms
    p99: float  # ms
    errors_5xx: int
    non_2xx: int
    socket_errors: int


def load(url: str, script: Path, connections: int, seconds: float) -> Run:
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    output = subprocess.run(
        [*command, "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    found = dict(re.findall(r"^KAIROS_(\w+) (\S+)$", output, re.MULTILINE))
    duration = float(re.search(r"in ([\d.]+)(m?s)", output).group(1))  # type: ignore[union-attr]
    unit = re.search(r"in [\d.]+(m?s)", output).group(1)  # type: ignore[union-attr]
    duration = duration / 1000 if unit == "ms" else duration
    return Run(
        rate=int(found["REQUESTS"]) / duration,
        p50=float(found["P50"]),
        p99=float(found["P99"]),
        errors_5xx=int(found["5XX"]),
        non_2xx=int(found["NON2XX"]),
        socket_errors=int(found["SOCKET"]),
    )
