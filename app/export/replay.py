"""The trial record replayed: recompute every recorded arm allocation from the study's seed,
and every skill decision from its recorded inputs, library version and seed
(app.skills.replay), and report each place where the record and the replay disagree."""

import uuid
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from app.skills.models import Delivery
from app.skills.replay import replay_deliveries
from app.studies.models import Allocation, Arm, Participant, Study
from app.studies.randomization import ArmWeight, allocate


class Mismatch(BaseModel):
    kind: Literal["arm", "block", "sequence_gap", "participant_arm"]
    stratum: str
    sequence_no: int
    participant: str
    recorded: str
    replayed: str


class SkillMismatch(BaseModel):
    delivery_id: str
    recorded: dict[str, Any]
    replayed: dict[str, Any]


class ReplayReport(BaseModel):
    study_id: uuid.UUID
    allocations: int
    mismatches: list[Mismatch]
    skill_decisions: int
    skill_mismatches: list[SkillMismatch]
    ok: bool


def replay(session: Session, study: Study) -> ReplayReport:
    arms = list(session.exec(select(Arm).where(Arm.study_id == study.id)))
    weights = [ArmWeight(arm.key, arm.weight) for arm in arms]
    arm_keys = {arm.id: arm.key for arm in arms}
    rows = session.exec(
        select(Allocation, Participant)
        .join(Participant, col(Participant.id) == Allocation.participant_id)
        .where(Allocation.study_id == study.id)
        .order_by(col(Allocation.stratum), col(Allocation.sequence_no))
    ).all()
    mismatches: list[Mismatch] = []
    next_no: dict[str, int] = {}
    for allocation, participant in rows:
        stratum, number = allocation.stratum, allocation.sequence_no
        found: list[tuple[str, object, object]] = []
        expected_no = next_no.get(stratum, 0)
        if number != expected_no:
            found.append(("sequence_gap", number, expected_no))
        next_no[stratum] = number + 1
        drawn = allocate(study.randomization_seed, stratum, number, weights, study.block_size)
        if allocation.arm_key != drawn.arm_key:
            found.append(("arm", allocation.arm_key, drawn.arm_key))
        recorded_block = (allocation.block_no, allocation.block_size)
        if recorded_block != (drawn.block_no, drawn.block_size):
            found.append(("block", recorded_block, (drawn.block_no, drawn.block_size)))
        participant_arm = arm_keys.get(participant.arm_id) if participant.arm_id else None
        if participant_arm != allocation.arm_key:
            found.append(("participant_arm", participant_arm, allocation.arm_key))
        mismatches += [
            Mismatch.model_validate(
                {
                    "kind": kind,
                    "stratum": stratum,
                    "sequence_no": number,
                    "participant": participant.pseudonym,
                    "recorded": str(recorded),
                    "replayed": str(replayed),
                }
            )
            for kind, recorded, replayed in found
        ]
    decisions = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.study_id == study.id, col(Delivery.reason).is_distinct_from("safety"))
    ).one()
    skill_mismatches = [
        SkillMismatch.model_validate(found) for found in replay_deliveries(session, study.id)
    ]
    return ReplayReport(
        study_id=study.id,
        allocations=len(rows),
        mismatches=mismatches,
        skill_decisions=decisions,
        skill_mismatches=skill_mismatches,
        ok=not mismatches and not skill_mismatches,
    )
