"""KAIROS_PLAN_HORIZON_HOURS reaches the plans made in requests, not only the plan job."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.scheduling.models import Prompt
from app.settings import Settings
from tests.conftest import START


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"plan_horizon_hours": 96})


def test_enrollment_plans_as_far_ahead_as_the_setting_says(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, session: Session
) -> None:
    study = make_study()
    schedule = {"schedule": {"fixed_times": ["13:00", "18:00"], "last_day": 28}}
    url = f"/v1/studies/{study['id']}/schedule"
    assert client.put(url, json=schedule, headers=owner).status_code == 200
    person = enroll(study["id"])
    times = session.exec(
        select(Prompt.scheduled_at).where(Prompt.participant_id == uuid.UUID(person["id"]))
    ).all()
    # Four days of 13:00 and 18:00 (Berlin), the last at 17:00 UTC on day 4, within 96 h.
    assert len(times) == 8
    assert max(times) <= START + timedelta(hours=96) < max(times) + timedelta(hours=19)
