"""The trial record replayed: recompute every recorded arm allocation from the study's seed
(app.studies.replay), and every skill decision from its recorded inputs, library version
and seed (app.skills.replay), and report each place where the record and the replay
disagree."""

import uuid

from pydantic import BaseModel
from sqlmodel import Session

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
    ok: bool


def replay(session: Session, study: Study) -> ReplayReport:
    allocations, mismatches = replay_allocations(session, study)
    skill_mismatches = [
        SkillMismatch.model_validate(found) for found in replay_deliveries(session, study.id)
    ]
    return ReplayReport(
        study_id=study.id,
        allocations=allocations,
        mismatches=mismatches,
        skill_decisions=count_decisions(session, study.id),
        skill_mismatches=skill_mismatches,
        ok=not mismatches and not skill_mismatches,
    )
