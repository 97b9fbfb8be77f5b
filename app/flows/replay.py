"""The trial record replayed: recompute every recorded arm allocation from the study's seed
(app.studies.replay), every skill decision from its recorded inputs, library version and
seed (app.skills.replay), and every micro-randomized draw from its arm's design and seed
(app.mrt), and report each place where the record and the replay disagree."""

import uuid
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from app.mrt.service import replay_points
from app.skills.replay import count_decisions, replay_deliveries
from app.skills.schemas import SkillMismatch
from app.studies.models import Study
from app.studies.replay import replay_allocations
from app.studies.schemas import Mismatch


class ReplayReport(BaseModel):
    study_id: uuid.UUID
    allocations: int
    mismatches: list[Mismatch]
    skill_decisions: int
    skill_mismatches: list[SkillMismatch]
    decision_points: int = Field(description="Available micro-randomized points replayed")
    decision_point_mismatches: list[dict[str, Any]]
    ok: bool


def replay(session: Session, study: Study) -> ReplayReport:
    allocations, mismatches = replay_allocations(session, study)
    skill_mismatches = [
        SkillMismatch.model_validate(found) for found in replay_deliveries(session, study.id)
    ]
    points, point_mismatches = replay_points(session, study.id)
    return ReplayReport(
        study_id=study.id,
        allocations=allocations,
        mismatches=mismatches,
        skill_decisions=count_decisions(session, study.id),
        skill_mismatches=skill_mismatches,
        decision_points=points,
        decision_point_mismatches=point_mismatches,
        ok=not mismatches and not skill_mismatches and not point_mismatches,
    )
