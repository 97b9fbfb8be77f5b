"""Micro-randomized arms and their decision points: the designs, the rows, the outcomes as
their data arrive, and the data the WCLS estimator reads."""

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import Session, col, func, or_, select

from app.audit import service as audit
from app.audit.service import Actor
from app.db import read_columns, update_row
from app.errors import Conflict, Invalid, NotFound
from app.mrt.design import MrtDesign, probability_for, treated
from app.mrt.models import DecisionPoint, MrtArmDesign
from app.mrt.wcls import MrtData, MrtDataError, WclsResult, wcls
from app.rules.process import Dimension
from app.skills.models import Delivery
from app.studies.models import Arm, Participant, Study
from app.vocabulary import Policy, StudyStatus

# What the analysis can moderate by or control for, besides each dimension's need.
COVARIATES = ("study_day", "hour_of_day")
LONGEST_OUTCOME_WINDOW = timedelta(hours=72)


def design_of(session: Session, arm_id: uuid.UUID | None) -> MrtDesign | None:
    """The arm's design; None when it is not micro-randomized (or there is no arm yet)."""
    record = None if arm_id is None else session.get(MrtArmDesign, arm_id)
    return None if record is None else MrtDesign.model_validate(record.design)


# A check-in's reads, built once: building a statement costs more than running it.
_POLICY_AND_DESIGN = (
    select(Arm.policy, MrtArmDesign.design)
    .join(MrtArmDesign, col(MrtArmDesign.arm_id) == Arm.id, isouter=True)
    .where(Arm.id == bindparam("arm_id"))
)
# Six columns: more than sqlmodel's `select` is typed for.
_WAITING_FOR_OUTCOME = sa.select(
    col(DecisionPoint.id),
    col(DecisionPoint.at),
    col(DecisionPoint.outcome_hours),
    col(DecisionPoint.outcome_kind),
    col(DecisionPoint.outcome_dimension),
    col(DecisionPoint.outcome_item),
).where(
    col(DecisionPoint.participant_id) == bindparam("participant_id"),
    col(DecisionPoint.outcome_kind).in_(("next_need", "next_item")),
    col(DecisionPoint.at) < bindparam("answered_at"),
    col(DecisionPoint.at) >= bindparam("since"),
    # Answered in order, most points have their outcome from an earlier check-in.
    or_(
        col(DecisionPoint.outcome_at).is_(None),
        col(DecisionPoint.outcome_at) > bindparam("answered_at"),
    ),
)
_MEASURED_BY_FEEDBACK = select(DecisionPoint).where(
    DecisionPoint.delivery_id == bindparam("delivery_id"),
    DecisionPoint.outcome_kind == "distress_after",
)
_LAST_OFFER = select(func.max(Delivery.created_at)).where(
    Delivery.participant_id == bindparam("participant_id"), col(Delivery.skill_key).is_not(None)
)


def policy_and_design(session: Session, arm_id: uuid.UUID) -> tuple[Policy, MrtDesign | None]:
    """The arm's policy and its design (None when it is not micro-randomized), in one
    query."""
    policy, design = read_columns(session, _POLICY_AND_DESIGN, {"arm_id": arm_id}).one()
    return Policy(policy), None if design is None else MrtDesign.model_validate(design)


def _arm(session: Session, study: Study, key: str) -> Arm:
    arm = session.exec(select(Arm).where(Arm.study_id == study.id, Arm.key == key)).first()
    if arm is None:
        raise NotFound(f"Arm '{key}' not found")
    return arm


def not_micro_randomized(key: str) -> NotFound:
    return NotFound(f"Arm '{key}' is not micro-randomized", code="no_mrt_design")


def arm_design(session: Session, study: Study, key: str) -> MrtDesign | None:
    return design_of(session, _arm(session, study, key).id)


def save_design(
    session: Session,
    study: Study,
    key: str,
    design: MrtDesign | None,
    actor: Actor,
    now: datetime,
    numeric_items: Collection[str] = (),
) -> MrtDesign | None:
    """Make an arm micro-randomized (or not, with None); only while the study is a draft, so
    every decision point of the trial was randomized under the design it reports. A next_item
    outcome names one of `numeric_items` (the check-in's slider, likert and boolean items)."""
    arm = _arm(session, study, key)
    if design is not None and arm.policy == Policy.assessment_only:
        raise Invalid("path.key", "An assessment-only arm has no skill to randomize")
    if design is not None and design.outcome_item not in (None, *numeric_items):
        raise Invalid(
            "body.outcome_item",
            f"'{design.outcome_item}' is not a slider, likert or boolean item of the check-in",
        )
    if study.status != StudyStatus.draft:
        raise Conflict(
            "An arm's micro-randomization is fixed once the study is active",
            code="study_not_draft",
        )
    record = session.get(MrtArmDesign, arm.id)
    if design is None:
        if record is None:
            raise not_micro_randomized(key)
        session.delete(record)
    else:
        record = record or MrtArmDesign(arm_id=arm.id, study_id=study.id, updated_at=now)
        record.design, record.updated_at = design.model_dump(mode="json"), now
        session.add(record)
    audit.record(
        session,
        actor,
        "arm.mrt_design" if design else "arm.mrt_design_remove",
        at=now,
        resource_type="arm",
        resource_id=arm.id,
        study_id=study.id,
        details={"key": key, **({"design": design.model_dump(mode="json")} if design else {})},
    )
    session.flush()
    return design


def minutes_since_offer(session: Session, participant_id: uuid.UUID, now: datetime) -> float | None:
    """Minutes since the participant was last offered a skill; None when never."""
    last = read_columns(session, _LAST_OFFER, {"participant_id": participant_id}).scalar()
    return None if last is None else (now - last).total_seconds() / 60


def outcome_from_feedback(session: Session, delivery: Delivery) -> None:
    """The distress-after rating is the outcome of the point its delivery decided."""
    point = session.execute(_MEASURED_BY_FEEDBACK, {"delivery_id": delivery.id}).scalar()
    if point is None or delivery.distress_after is None:
        return
    point.outcome, point.outcome_at = float(delivery.distress_after), delivery.feedback_at
    session.add(point)


def outcomes_from_checkin(
    session: Session,
    participant_id: uuid.UUID,
    answered_at: datetime,
    needs: dict[str, float | None],
    answers: Mapping[str, object],
) -> None:
    """A check-in's needs or answers are the outcome of the participant's earlier points
    whose window it falls in, unless a check-in even closer after them gave it already. An
    item left unanswered (or no longer a number) leaves the outcome missing."""
    candidates = read_columns(
        session,
        _WAITING_FOR_OUTCOME,
        {
            "participant_id": participant_id,
            "answered_at": answered_at,
            "since": answered_at - LONGEST_OUTCOME_WINDOW,
        },
    ).all()
    for point in candidates:
        if answered_at - point.at > timedelta(hours=point.outcome_hours):
            continue
        if point.outcome_kind == "next_need":
            outcome = needs.get(point.outcome_dimension or "")
        else:
            outcome = _number(answers.get(point.outcome_item or ""))
        update_row(session, DecisionPoint, point.id, outcome=outcome, outcome_at=answered_at)


def _number(answer: object) -> float | None:
    if isinstance(answer, bool):
        return 1.0 if answer else 0.0
    return float(answer) if isinstance(answer, int | float) else None


def _covariate(point: DecisionPoint, name: str) -> float:
    if name == "study_day":
        return float(point.study_day)
    if name == "hour_of_day":
        return point.local_minute / 60
    need = point.needs.get(name.removeprefix("need_"))
    return float("nan") if need is None else need


def analyze(
    session: Session,
    study: Study,
    moderators: Sequence[str],
    controls: Sequence[str],
    numerator_probability: float | None,
    location: str,
) -> WclsResult:
    """The causal excursion effect in the study's decision points (WCLS)."""
    data = wcls_data(session, study, moderators, controls, location)
    try:
        return wcls(data, numerator_probability)
    except MrtDataError as exc:
        raise Conflict(
            f"The decision points cannot be analyzed so: {exc}", code="insufficient_data"
        ) from exc


def covariate_names() -> list[str]:
    return [*COVARIATES, *(f"need_{dimension}" for dimension in Dimension)]


def wcls_data(
    session: Session,
    study: Study,
    moderators: Sequence[str],
    controls: Sequence[str],
    location: str,
) -> MrtData:
    """The study's decision points as the estimator reads them; an outcome not known (or a
    covariate missing beside it) is missing, as the estimator expects."""
    known = covariate_names()
    for kind, names in (("moderators", moderators), ("controls", controls)):
        for name in names:
            if name not in known:
                raise Invalid(f"{location}.{kind}", f"unknown covariate '{name}'; one of {known}")
    points = session.exec(
        select(DecisionPoint)
        .where(DecisionPoint.study_id == study.id)
        .order_by(col(DecisionPoint.at), col(DecisionPoint.id))
    ).all()
    if not points:
        raise Conflict("This study has no decision points yet", code="no_decision_points")
    missing = float("nan")
    values = {name: [_covariate(p, name) for p in points] for name in (*moderators, *controls)}
    outcome = [
        # A covariate missing where the outcome is known leaves the point out of the fit.
        missing
        if p.outcome is None or any(column[i] != column[i] for column in values.values())
        else p.outcome
        for i, p in enumerate(points)
    ]
    return MrtData(
        ids=[p.participant_id for p in points],
        outcome=outcome,
        treatment=[1.0 if p.treated else 0.0 for p in points],
        # The estimator never reads an unavailable point's probability.
        probability=[p.probability if p.probability is not None else 0.5 for p in points],
        availability=[1.0 if p.available else 0.0 for p in points],
        moderators={name: values[name] for name in moderators},
        controls={name: values[name] for name in controls},
    )


def replay_points(session: Session, study_id: uuid.UUID) -> tuple[int, list[dict[str, Any]]]:
    """Every available decision point's probability and draw, recomputed from its arm's
    design and its seed; returns how many were checked and where the record differs."""
    designs = {
        record.arm_id: MrtDesign.model_validate(record.design)
        for record in session.exec(select(MrtArmDesign).where(MrtArmDesign.study_id == study_id))
    }
    rows = session.exec(
        select(DecisionPoint, Participant.arm_id, Delivery.skill_key)
        .join(Participant, col(Participant.id) == DecisionPoint.participant_id)
        .join(Delivery, col(Delivery.id) == DecisionPoint.delivery_id, isouter=True)
        .where(DecisionPoint.study_id == study_id, DecisionPoint.available)
        .order_by(col(DecisionPoint.at), col(DecisionPoint.id))
    ).all()
    mismatches = []
    for point, arm_id, skill_key in rows:
        design = designs.get(arm_id) if arm_id else None
        p = probability_for(design, point.study_day, point.local_minute) if design else None
        got, u = treated(p, point.seed) if p is not None else (None, None)
        recorded = {"probability": point.probability, "treated": point.treated, "draw": point.draw}
        replayed = {"probability": p, "treated": got, "draw": u}
        offered = {"offered": skill_key is not None}
        if recorded != replayed or offered["offered"] != bool(point.treated):
            mismatches.append(
                {
                    "decision_point_id": str(point.id),
                    "recorded": {**recorded, **offered},
                    "replayed": replayed,
                }
            )
    return len(rows), mismatches
