"""Shared set-up of the benchmarks: a throwaway PostgreSQL database, seeded in bulk."""

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.auth.models import StaffUser
from app.db import make_engine
from app.migrate import upgrade
from app.scheduling.models import StudySchedule
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
    enrolled = now - timedelta(days=1)
    people = [
        Participant(
            study_id=study_id,
            pseudonym=f"P{n:07d}",
            timezone=ZONES[n % len(ZONES)],
            status=ParticipantStatus.active,
            arm_id=arm_id,
            created_at=enrolled,
            enrolled_at=enrolled,
            status_changed_at=enrolled,
        ).model_dump()
        for n in range(participants)
    ]
    bulk_insert(engine, Participant, people)
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
