"""The person's skill history kept as it happens equals the one read from the deliveries."""

import random
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from alembic import command
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.checkins.models import Detection
from app.clock import FrozenClock
from app.migrate import alembic_config, upgrade
from app.skills import service
from app.skills.models import Delivery
from app.skills.policies import RECENT_KEPT, SkillHistory, SkillRating
from tests.conftest import START
from tests.test_checkins import BASE, FUSED, checkin, post, trial  # noqa: F401 (a fixture)

KEYS = ["a", "b", "c", "plan:own"]
# An event: a skill offered (its key), or a rating (of the n-th offer, modulo, 0-10).
events = st.lists(
    st.one_of(
        st.sampled_from(KEYS).map(lambda key: ("offer", key)),
        st.tuples(st.just("rate"), st.integers(0, 50), st.integers(0, 10)),
    ),
    max_size=60,
)


def _from_scratch(offers: Sequence[tuple[str, int | None]]) -> SkillHistory:
    """Read from the whole history, in order: the last distinct skills and every rating."""
    recent: list[str] = []
    for key, _ in reversed(offers):
        if key not in recent and len(recent) < RECENT_KEPT:
            recent.append(key)
    ratings: dict[str, SkillRating] = {}
    for key, rating in offers:
        if rating is not None:
            kept = ratings.get(key, SkillRating())
            ratings[key] = SkillRating(rated=kept.rated + 1, total=kept.total + rating)
    return SkillHistory(recent=recent, ratings=ratings)


@given(happened=events)
@settings(max_examples=300, deadline=None)
def test_the_history_kept_as_it_happens_is_the_one_read_from_scratch(
    happened: list[Any],
) -> None:
    offers: list[tuple[str, int | None]] = []
    kept = SkillHistory()
    for event in happened:
        if event[0] == "offer":
            offers.append((event[1], None))
            kept = kept.offered(event[1])
        elif offers:  # a rating, given or changed, of an earlier offer
            index = event[1] % len(offers)
            key, before = offers[index]
            offers[index] = (key, event[2])
            kept = kept.rated(key, before, event[2])
    assert kept == _from_scratch(offers)


def _stored(session: Session, participant_id: uuid.UUID) -> SkillHistory:
    """The person's deliveries with a skill, in the order they were decided."""
    rows = session.exec(
        select(Delivery.skill_key, Delivery.helpfulness)
        .join(Detection, col(Detection.checkin_id) == Delivery.checkin_id)
        .where(Delivery.participant_id == participant_id, col(Delivery.skill_key).is_not(None))
        .order_by(col(Detection.sequence))
    ).all()
    return _from_scratch([(key, rating) for key, rating in rows if key is not None])


def test_check_ins_and_ratings_keep_it_and_the_migration_builds_it_alike(
    client: TestClient,
    owner: dict,
    trial: dict,  # noqa: F811
    clock: FrozenClock,
    db: Engine,
) -> None:
    people = [trial["by_arm"]["tailored"], trial["by_arm"]["random"]]
    rng = random.Random(5)
    offered: list[tuple[dict, str]] = []
    for n in range(16):
        clock.set(START + timedelta(minutes=2 + n // 3))  # some in the same instant
        person = people[n % 2]
        answered = clock.now().isoformat()
        body = post(client, person, checkin(rng.choice([BASE, FUSED]), answered_at=answered))
        assert body.status_code == 201, body.text
        if body.json()["delivery"]["skill"] is not None:
            offered.append((person, body.json()["delivery"]["id"]))
        if offered and rng.random() < 0.6:  # rate, or rate again, an earlier one
            rated, delivery_id = rng.choice(offered)
            feedback = {"helpfulness": rng.randint(0, 10)}
            url = f"/v1/deliveries/{delivery_id}/feedback"
            assert client.post(url, json=feedback, headers=rated["headers"]).status_code == 204
    ids = [uuid.UUID(person["id"]) for person in people]
    with Session(db) as session:
        kept = {person: service.skill_history(session, person) for person in ids}
        assert kept == {person: _stored(session, person) for person in ids}
        assert all(history.ratings for history in kept.values())
    replay = client.get(f"/v1/studies/{trial['study']['id']}/replay", headers=owner).json()
    assert replay["ok"] and replay["skill_decisions"] == 16, replay
    url = db.url.render_as_string(hide_password=False)
    try:
        command.downgrade(alembic_config(url), "0011")
        upgrade(url)
    finally:
        upgrade(url)  # the next test needs the current schema whatever happened
    with Session(db) as session:
        assert {person: service.skill_history(session, person) for person in ids} == kept
