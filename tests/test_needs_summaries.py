"""The running sums a check-in reads give the very numbers a computation from scratch over
the whole history gives: exact sums, rounded once."""

import random
import statistics
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.checkins import service
from app.checkins.models import Detection
from app.clock import FrozenClock
from app.rules.evaluate import DimensionStats, NeedHistory
from app.rules.process import DIMENSION_ORDER, Dimension, Pole, dimension_of
from app.rules.running import RunningSums
from app.studies.models import Participant
from tests.conftest import START
from tests.test_checkins import BASE, checkin

needs = st.lists(st.floats(0, 100), min_size=2, max_size=60)


@given(values=needs)
@settings(max_examples=300, deadline=None)
def test_running_sums_give_the_mean_and_stdev_of_the_statistics_module(
    values: list[float],
) -> None:
    sums = RunningSums.of(values)
    assert sums.mean() == statistics.mean(values)
    assert sums.stdev() == statistics.stdev(values)
    assert sums.variance() == float(statistics.variance(values))
    assert RunningSums.load(sums.dump()) == sums


@given(kept=needs, passing=st.lists(st.floats(0, 100), max_size=30))
@settings(max_examples=200, deadline=None)
def test_a_value_taken_away_leaves_no_trace(kept: list[float], passing: list[float]) -> None:
    sums = RunningSums.of(passing + kept)
    for value in passing:
        sums = sums.remove(value)
    assert sums == RunningSums.of(kept)
    assert sums.stdev() == statistics.stdev(kept)


def _from_scratch(session: Session, participant: Participant, window: int) -> Any:
    """What the summaries stand for, computed from the detection rows."""
    mine = session.exec(
        select(Detection)
        .where(Detection.participant_id == participant.id)
        .order_by(col(Detection.sequence))
    ).all()
    history: dict[Dimension, list[float]] = {}
    last_targeted: dict[Dimension, int] = {}
    for detection in mine:
        for key, value in detection.needs.items():
            if value is not None:
                history.setdefault(Dimension(key), []).append(float(value))
        if detection.target is not None:
            last_targeted[dimension_of(Pole(detection.target))] = detection.sequence
    recent = session.exec(
        select(Detection.needs)
        .where(Detection.study_id == participant.study_id)
        .order_by(col(Detection.study_sequence).desc())
        .limit(window)
    ).all()
    stats = {}
    for dimension in DIMENSION_ORDER:
        values = [float(v) for row in recent if (v := row.get(dimension)) is not None]
        if len(values) >= 2:
            stats[dimension] = DimensionStats(
                mean=statistics.mean(values), sd=statistics.stdev(values), count=len(values)
            )
    return service.DetectionHistory(
        needs_history={d: NeedHistory.of(v) for d, v in history.items()},
        study_stats=stats,
        last_targeted=last_targeted,
        next_sequence=mine[-1].sequence + 1 if mine else 1,
    )


def _random_answers(rng: random.Random) -> dict[str, int]:
    return {key: rng.randint(0, 100) if key != "risk" else 0 for key in BASE}


def test_the_summaries_match_the_history_through_a_moving_window_and_an_erasure(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
    db: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = 5
    monkeypatch.setattr(service, "STUDY_STATS_WINDOW", window)
    study = make_study()
    people = [enroll(study["id"]) for _ in range(3)]
    rng = random.Random(11)
    for n in range(24):
        clock.set(START + timedelta(minutes=2 + n))
        person = people[rng.randrange(len(people))]
        body = checkin(_random_answers(rng), answered_at=clock.now().isoformat())
        posted = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert posted.status_code == 201, posted.text
        with Session(db) as session:
            for someone in people:
                participant = session.get_one(Participant, uuid.UUID(someone["id"]))
                assert service.detection_history(session, participant) == _from_scratch(
                    session, participant, window
                )
    erased = client.post(
        f"/v1/studies/{study['id']}/participants/{people[0]['id']}/erase",
        json={"pseudonym": people[0]["pseudonym"]},
        headers=owner,
    )
    assert erased.status_code == 200, erased.text
    with Session(db) as session:
        participant = session.get_one(Participant, uuid.UUID(people[1]["id"]))
        assert service.detection_history(session, participant) == _from_scratch(
            session, participant, window
        )
