"""Replay a study's arm allocations from its recorded seed (the trial record's first half)."""

from sqlmodel import Session, col, select

from app.studies.models import Allocation, Arm, Participant, Study
from app.studies.randomization import ArmWeight, allocate
from app.studies.schemas import Mismatch


def replay_allocations(session: Session, study: Study) -> tuple[int, list[Mismatch]]:
    """How many allocations were replayed, and every place record and replay disagree."""
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
    return len(rows), mismatches
