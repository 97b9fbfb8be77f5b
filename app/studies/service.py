"""Studies, arms and memberships."""

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.access import visibility
from app.access.scope import StudyAccess
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import StaffUser
from app.errors import Conflict, Invalid, NotFound, field_path
from app.pagination import Page, PageParams, map_page, paginate
from app.patching import apply_patch
from app.studies.models import Arm, Membership, Participant, Study
from app.studies.randomization import ArmWeight, block_size_problem
from app.studies.schemas import (
    ArmIn,
    ArmOut,
    ArmUpdate,
    MemberIn,
    MemberOut,
    StudyCreate,
    StudyOut,
    StudyUpdate,
    WebPushConfig,
)
from app.types import normalize_email
from app.vocabulary import Role, StudyStatus


def arms_of(session: Session, study_id: uuid.UUID) -> list[Arm]:
    return list(session.exec(select(Arm).where(Arm.study_id == study_id).order_by(col(Arm.key))))


def _study_out(access: StudyAccess, arms: list[Arm]) -> StudyOut:
    study = access.study
    return StudyOut(
        **study.model_dump(exclude={"randomization_seed", "created_by", "updated_at"}),
        randomization_seed=visibility.shown_seed(access, study.randomization_seed),
        arms=[ArmOut.model_validate(arm) for arm in arms],
        my_role=access.role,
    )


def study_out(session: Session, access: StudyAccess) -> StudyOut:
    return _study_out(access, arms_of(session, access.study.id))


def list_studies(session: Session, user: StaffUser, page: PageParams) -> Page[StudyOut]:
    query = (
        select(Study, Membership.role)
        .join(Membership, Membership.study_id == Study.id)  # type: ignore[arg-type]
        .where(Membership.user_id == user.id)
        .order_by(col(Study.created_at).desc(), col(Study.id))
    )
    rows = paginate(session, query, page)
    arms: dict[uuid.UUID, list[Arm]] = {study.id: [] for study, _ in rows.items}
    for arm in session.exec(
        select(Arm).where(col(Arm.study_id).in_(list(arms))).order_by(col(Arm.key))
    ):
        arms[arm.study_id].append(arm)
    return map_page(
        rows, lambda row: _study_out(StudyAccess(row[0], Role(row[1])), arms[row[0].id])
    )


def _check_arm_keys(arms: list[ArmIn]) -> None:
    seen: set[str] = set()
    for index, arm in enumerate(arms):
        if arm.key in seen:
            raise Invalid(
                field_path(("body", "arms", index, "key")), f"Arm key '{arm.key}' is used twice"
            )
        seen.add(arm.key)


def _check_block_size(arms: Sequence[ArmIn | Arm], block_size: int | None) -> None:
    """A block size the arms' weights cannot fill is refused when given, not only when the
    study is activated (activation still checks it against arms changed since)."""
    if arms and (
        problem := block_size_problem([ArmWeight(a.key, a.weight) for a in arms], block_size)
    ):
        raise Invalid("body.block_size", problem)


def create_study(session: Session, user: StaffUser, data: StudyCreate, now: datetime) -> Study:
    _check_arm_keys(data.arms)
    _check_block_size(data.arms, data.block_size)
    study = Study(
        **data.model_dump(exclude={"arms"}),
        randomization_seed=secrets.token_hex(16),
        created_by=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(study)
    session.flush()  # the rows below refer to it, and the unit of work does not order by FK
    session.add(Membership(study_id=study.id, user_id=user.id, role=Role.owner, created_at=now))
    for arm in data.arms:
        session.add(Arm(study_id=study.id, **arm.model_dump()))
    audit.record(
        session,
        Actor("staff", str(user.id)),
        "study.create",
        at=now,
        resource_type="study",
        resource_id=study.id,
        study_id=study.id,
        details={"name": study.name, "arms": [arm.key for arm in data.arms]},
    )
    session.flush()
    return study


def _require_draft(study: Study) -> None:
    if study.status != StudyStatus.draft:
        raise Conflict(
            f"The study is {study.status}; only a draft study can be changed",
            code="study_not_draft",
        )


def _refuse_if_participants(session: Session, study: Study) -> None:
    # Participants' strata were checked against the factors at their creation; other
    # factors would leave them without a stratum to be allocated in.
    if session.exec(select(Participant.id).where(Participant.study_id == study.id)).first():
        raise Conflict(
            "stratify_by cannot change once the study has participants",
            code="stratification_fixed",
        )


def update_study(
    session: Session, access: StudyAccess, actor: Actor, data: StudyUpdate, now: datetime
) -> Study:
    study = access.study
    _require_draft(study)
    if data.stratify_by is not None and data.stratify_by != study.stratify_by:
        _refuse_if_participants(session, study)
    _check_block_size(arms_of(session, study.id), data.block_size)
    changed = apply_patch(study, data)
    study.updated_at = now
    session.add(study)
    audit.record(
        session,
        actor,
        "study.update",
        at=now,
        resource_type="study",
        resource_id=study.id,
        study_id=study.id,
        details={"fields": changed},
    )
    session.flush()
    return study


def update_draft(
    session: Session,
    access: StudyAccess,
    actor: Actor,
    data: StudyUpdate,
    arms: Sequence[ArmIn],
    now: datetime,
) -> Study:
    """A draft's settings and its whole list of arms in one change: an arm whose key is
    kept is updated where it differs, a new key is added, a key left out is deleted (each
    as the arms' own routes do it, audited alike); then the study is updated, its block
    size checked against the arms as they are now."""
    _require_draft(access.study)
    _check_arm_keys(list(arms))
    existing = {arm.key: arm for arm in arms_of(session, access.study.id)}
    for arm in arms:
        before = existing.get(arm.key)
        if before is None:
            add_arm(session, access, actor, arm, now)
            continue
        changed = {
            name: value
            for name, value in arm.model_dump(exclude={"key"}).items()
            if getattr(before, name) != value
        }
        if changed:
            update_arm(session, access, actor, arm.key, ArmUpdate(**changed), now)
    for key in sorted(existing.keys() - {arm.key for arm in arms}):
        delete_arm(session, access, actor, key, now)
    return update_study(session, access, actor, data, now)


def web_push_of(study: Study) -> WebPushConfig | None:
    return None if study.web_push is None else WebPushConfig.model_validate(study.web_push)


def save_web_push(
    session: Session, access: StudyAccess, actor: Actor, config: WebPushConfig | None, now: datetime
) -> None:
    """Set (or with None, remove) the study's Firebase web app; any status, since it is how
    pushes reach the web app, not part of the protocol."""
    study = access.study
    study.web_push = None if config is None else config.model_dump(mode="json", by_alias=True)
    study.updated_at = now
    session.add(study)
    audit.record(
        session,
        actor,
        "study.web_push",
        at=now,
        resource_type="study",
        resource_id=study.id,
        study_id=study.id,
        details={"configured": config is not None},
    )
    session.flush()


def activation_problems(session: Session, study: Study) -> list[dict[str, Any]]:
    """What keeps a draft study from running, each naming the field to fix."""
    problems: list[dict[str, Any]] = []
    arms = arms_of(session, study.id)
    if not arms:
        problems.append({"field": "arms", "message": "A study needs at least one arm"})
    elif problem := block_size_problem(
        [ArmWeight(a.key, a.weight) for a in arms], study.block_size
    ):
        problems.append({"field": "block_size", "message": problem})
    return problems


def activate_study(session: Session, access: StudyAccess, actor: Actor, now: datetime) -> Study:
    study = access.study
    _require_draft(study)
    if problems := activation_problems(session, study):
        raise Conflict(
            "The study is not complete: " + "; ".join(p["message"] for p in problems),
            code="study_incomplete",
            errors=problems,
        )
    study.status = StudyStatus.active
    study.activated_at = study.updated_at = now
    session.add(study)
    audit.record(
        session,
        actor,
        "study.activate",
        at=now,
        resource_type="study",
        resource_id=study.id,
        study_id=study.id,
    )
    session.flush()
    return study


def close_study(session: Session, access: StudyAccess, actor: Actor, now: datetime) -> Study:
    study = access.study
    if study.status != StudyStatus.active:
        raise Conflict(
            f"Only an active study can be closed; it is {study.status}", code="study_not_active"
        )
    study.status = StudyStatus.closed
    study.closed_at = study.updated_at = now
    session.add(study)
    audit.record(
        session,
        actor,
        "study.close",
        at=now,
        resource_type="study",
        resource_id=study.id,
        study_id=study.id,
    )
    session.flush()
    return study


def _arm(session: Session, study_id: uuid.UUID, key: str) -> Arm:
    arm = session.exec(select(Arm).where(Arm.study_id == study_id, Arm.key == key)).first()
    if arm is None:
        raise NotFound(f"Arm '{key}' not found")
    return arm


def add_arm(session: Session, access: StudyAccess, actor: Actor, data: ArmIn, now: datetime) -> Arm:
    _require_draft(access.study)
    arm = Arm(study_id=access.study.id, **data.model_dump())
    session.add(arm)
    audit.record(
        session,
        actor,
        "arm.create",
        at=now,
        resource_type="arm",
        resource_id=data.key,
        study_id=access.study.id,
        details=data.model_dump(mode="json"),
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Arm '{data.key}' exists already", code="arm_exists") from exc
    return arm


def update_arm(
    session: Session, access: StudyAccess, actor: Actor, key: str, data: ArmUpdate, now: datetime
) -> Arm:
    _require_draft(access.study)
    arm = _arm(session, access.study.id, key)
    apply_patch(arm, data)
    session.add(arm)
    audit.record(
        session,
        actor,
        "arm.update",
        at=now,
        resource_type="arm",
        resource_id=key,
        study_id=access.study.id,
        details=data.model_dump(mode="json", exclude_unset=True),
    )
    session.flush()
    return arm


def delete_arm(
    session: Session, access: StudyAccess, actor: Actor, key: str, now: datetime
) -> None:
    _require_draft(access.study)
    session.delete(_arm(session, access.study.id, key))
    audit.record(
        session,
        actor,
        "arm.delete",
        at=now,
        resource_type="arm",
        resource_id=key,
        study_id=access.study.id,
    )
    session.flush()


def list_members(session: Session, study_id: uuid.UUID, page: PageParams) -> Page[MemberOut]:
    query = (
        select(Membership, StaffUser)
        .join(StaffUser, StaffUser.id == Membership.user_id)  # type: ignore[arg-type]
        .where(Membership.study_id == study_id)
        .order_by(col(Membership.created_at), col(StaffUser.email))
    )
    rows = paginate(session, query, page)
    return map_page(rows, lambda row: _member_out(*row))


def _member_out(member: Membership, user: StaffUser) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=member.role,
        created_at=member.created_at,
    )


def add_member(
    session: Session, access: StudyAccess, actor: Actor, data: MemberIn, now: datetime
) -> MemberOut:
    email = normalize_email(data.email)
    user = session.exec(select(StaffUser).where(StaffUser.email == email)).first()
    if user is None:
        raise Invalid("body.email", "No staff account has this email", code="unknown_user")
    study_id = access.study.id
    existing = session.exec(
        select(Membership).where(Membership.study_id == study_id, Membership.user_id == user.id)
    ).first()
    if existing is not None:
        if existing.role == Role.owner and data.role != Role.owner:
            _keep_an_owner(session, study_id)
        existing.role = data.role
        member = existing
    else:
        member = Membership(study_id=study_id, user_id=user.id, role=data.role, created_at=now)
    session.add(member)
    audit.record(
        session,
        actor,
        "member.set",
        at=now,
        resource_type="membership",
        resource_id=user.id,
        study_id=study_id,
        details={"email": email, "role": data.role},
    )
    session.flush()
    return _member_out(member, user)


def _keep_an_owner(session: Session, study_id: uuid.UUID) -> None:
    owners = session.exec(
        select(func.count())
        .select_from(Membership)
        .where(Membership.study_id == study_id, Membership.role == Role.owner)
    ).one()
    if owners <= 1:
        raise Conflict("A study must keep at least one owner", code="last_owner")


def remove_member(
    session: Session, access: StudyAccess, actor: Actor, email: str, now: datetime
) -> None:
    study_id = access.study.id
    row = session.exec(
        select(Membership, StaffUser)
        .join(StaffUser, StaffUser.id == Membership.user_id)  # type: ignore[arg-type]
        .where(Membership.study_id == study_id, StaffUser.email == normalize_email(email))
    ).first()
    if row is None:
        raise NotFound("Member not found")
    member, user = row
    if member.role == Role.owner:
        _keep_an_owner(session, study_id)
    session.delete(member)
    audit.record(
        session,
        actor,
        "member.remove",
        at=now,
        resource_type="membership",
        resource_id=user.id,
        study_id=study_id,
        details={"email": user.email},
    )
    session.flush()
