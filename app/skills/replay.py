"""Replay recorded skill decisions: the same inputs, library and seed must give the same
decision, or the trial record has changed."""

import math
import uuid
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, col, func, select

from app.skills.models import Delivery, SkillLibrary
from app.skills.policies import PolicyInputs, not_randomized
from app.skills.policies import select as select_skill
from app.skills.service import skills_of
from app.vocabulary import Policy


def replay_deliveries(session: Session, study_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    """Every recorded skill decision of the study whose replay differs, with both sides."""
    libraries = {
        library.version: skills_of(library)
        for library in session.exec(select(SkillLibrary).where(SkillLibrary.study_id == study_id))
    }
    deliveries = session.exec(
        select(Delivery)
        .where(Delivery.study_id == study_id, col(Delivery.reason).is_distinct_from("safety"))
        .order_by(col(Delivery.created_at), col(Delivery.id))
    )
    for delivery in deliveries:
        inputs = PolicyInputs.model_validate(delivery.inputs)
        replayed = select_skill(
            Policy(delivery.policy),
            inputs.target,
            libraries.get(delivery.library_version or -1, []),
            inputs.personalization,
            inputs.past(),
            delivery.seed,
            chances=inputs.chances,
        )
        if delivery.reason == "not_randomized":
            # The micro-randomized draw withheld it; the draw replays on its own (app.mrt).
            replayed = not_randomized(replayed)
        recorded = (delivery.skill_key, delivery.reason)
        same = (replayed.skill_key, replayed.reason) == recorded and _same_chances(
            replayed.probabilities, delivery.probabilities
        )
        if not same:
            yield {
                "delivery_id": str(delivery.id),
                "recorded": {"skill_key": delivery.skill_key, "reason": delivery.reason},
                "replayed": {"skill_key": replayed.skill_key, "reason": replayed.reason},
            }


def _same_chances(replayed: dict[str, float], recorded: dict[str, float]) -> bool:
    """The same candidates with the same probabilities. Quadrature's last digits may move
    with a new numpy or scipy (a Monte Carlo decision's never do): 1e-9 is far above that
    and far below anything that could change a choice or an analysis."""
    return replayed.keys() == recorded.keys() and all(
        math.isclose(replayed[key], recorded[key], rel_tol=0.0, abs_tol=1e-9) for key in recorded
    )


def count_decisions(session: Session, study_id: uuid.UUID) -> int:
    """The recorded skill decisions a replay checks (a safety screen decides none)."""
    return session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.study_id == study_id, col(Delivery.reason).is_distinct_from("safety"))
    ).one()
