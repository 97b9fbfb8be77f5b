"""Participants: creation with a one-time enrollment code, enrollment with arm allocation,
status transitions, tokens and devices. What these changes mean for a participant's
prompts is `app.flows.participants`' business."""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select, update

from app.access import visibility
from app.access.scope import StudyAccess
from app.audit import service as audit
from app.audit.service import Actor
from app.db import lock_keys
from app.digest import secret_digest
from app.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    TooManyRequests,
    Unauthorized,
)
from app.pagination import Page, PageParams, paginate
from app.patching import apply_patch
from app.ratelimit import seconds_until_under
from app.studies.models import (
    Allocation,
    Arm,
    Device,
    EnrollmentCode,
    EnrollmentFailure,
    Participant,
    ParticipantToken,
    Study,
)
from app.studies.randomization import ArmWeight, allocate, stratum_key
from app.studies.schemas import (
    EnrollmentCodeOut,
    ParticipantCreate,
    ParticipantOut,
    ParticipantSelfUpdate,
    ParticipantUpdate,
    StatusChange,
)
from app.studies.tokens import (
    new_enrollment_code,
    new_participant_token,
    normalize_enrollment_code,
)
from app.vocabulary import ParticipantStatus, StudyStatus

S = ParticipantStatus
# Which status may follow which; enrollment (invited -> active) happens only through a code.
TRANSITIONS: dict[ParticipantStatus, frozenset[ParticipantStatus]] = {
    S.invited: frozenset({S.withdrawn}),
    S.active: frozenset({S.paused, S.withdrawn, S.completed}),
    S.paused: frozenset({S.active, S.withdrawn, S.completed}),
    S.withdrawn: frozenset(),
    S.completed: frozenset(),
}


def participant_out(
    access: StudyAccess, participant: Participant, arm_key: str | None
) -> ParticipantOut:
    return ParticipantOut(
        **participant.model_dump(exclude={"arm_id", "status_changed_at"}),
        arm=visibility.shown_arm(access, arm_key),
        arm_concealed=not visibility.sees_arms(access),
    )


def _arm_keys(session: Session, study_id: uuid.UUID) -> dict[uuid.UUID, str]:
    return {arm.id: arm.key for arm in session.exec(select(Arm).where(Arm.study_id == study_id))}


def participant_outs(
    session: Session, access: StudyAccess, participants: list[Participant]
) -> list[ParticipantOut]:
    keys = _arm_keys(session, access.study.id)
    return [
        participant_out(access, p, keys.get(p.arm_id) if p.arm_id else None) for p in participants
    ]


def list_participants(
    session: Session,
    access: StudyAccess,
    page: PageParams,
    status: ParticipantStatus | None,
    *,
    arm: str | None = None,
    pseudonym: str | None = None,
) -> Page[Participant]:
    """The study's participants, oldest first; by status, by arm (only for a role that sees
    arms: filtering by one would reveal it), and by a part of the pseudonym."""
    query = select(Participant).where(Participant.study_id == access.study.id)
    if status is not None:
        query = query.where(Participant.status == status)
    if arm is not None:
        if not visibility.sees_arms(access):
            raise Forbidden("Arms are concealed from your role in this study", code="arm_concealed")
        query = query.join(Arm, col(Arm.id) == Participant.arm_id).where(Arm.key == arm)
    if pseudonym:
        query = query.where(col(Participant.pseudonym).icontains(pseudonym, autoescape=True))
    return paginate(session, query.order_by(col(Participant.created_at), col(Participant.id)), page)


def _issue_code(
    session: Session, participant: Participant, hours: int, now: datetime
) -> EnrollmentCodeOut:
    # A new code replaces any earlier unused one.
    session.exec(
        update(EnrollmentCode)
        .where(col(EnrollmentCode.participant_id) == participant.id)
        .where(col(EnrollmentCode.used_at).is_(None), col(EnrollmentCode.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    code = new_enrollment_code()
    expires_at = now + timedelta(hours=hours)
    session.add(
        EnrollmentCode(
            participant_id=participant.id,
            code_hash=secret_digest(code),
            created_at=now,
            expires_at=expires_at,
        )
    )
    return EnrollmentCodeOut(code=code, expires_at=expires_at)


def create_participant(
    session: Session,
    access: StudyAccess,
    actor: Actor,
    data: ParticipantCreate,
    code_hours: int,
    now: datetime,
) -> tuple[Participant, EnrollmentCodeOut]:
    study = access.study
    if study.status == StudyStatus.closed:
        raise Conflict("The study is closed", code="study_closed")
    missing = [name for name in study.stratify_by if name not in data.strata]
    if missing:
        raise Invalid(f"body.strata.{missing[0]}", f"The study stratifies by '{missing[0]}'")
    extra = sorted(set(data.strata) - set(study.stratify_by))
    if extra:
        raise Invalid(f"body.strata.{extra[0]}", f"The study does not stratify by '{extra[0]}'")
    participant = Participant(
        study_id=study.id,
        pseudonym=data.pseudonym or f"P-{secrets.token_hex(4).upper()}",
        external_ref=data.external_ref,
        strata=data.strata,
        timezone=data.timezone,
        locale=data.locale,
        created_at=now,
        status_changed_at=now,
    )
    session.add(participant)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Pseudonym '{participant.pseudonym}' is taken in this study", code="pseudonym_taken"
        ) from exc
    code = _issue_code(session, participant, code_hours, now)
    audit.record(
        session,
        actor,
        "participant.create",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=study.id,
        details={"pseudonym": participant.pseudonym},
    )
    session.flush()
    return participant, code


def reissue_code(
    session: Session,
    access: StudyAccess,
    actor: Actor,
    participant: Participant,
    code_hours: int,
    now: datetime,
) -> EnrollmentCodeOut:
    if participant.status != ParticipantStatus.invited:
        raise Conflict(
            "Only an invited participant gets an enrollment code", code="already_enrolled"
        )
    code = _issue_code(session, participant, code_hours, now)
    audit.record(
        session,
        actor,
        "participant.reissue_code",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=access.study.id,
    )
    session.flush()
    return code


def update_participant(
    session: Session,
    actor: Actor,
    participant: Participant,
    data: ParticipantUpdate | ParticipantSelfUpdate,
    now: datetime,
) -> list[str]:
    """Change time zone, locale or reference; only the optional ones may be cleared.
    Returns the names of the fields changed."""
    changed = apply_patch(participant, data)
    session.add(participant)
    audit.record(
        session,
        actor,
        "participant.update",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"fields": changed},
    )
    session.flush()
    return changed


def revoke_tokens(session: Session, participant_id: uuid.UUID, now: datetime) -> None:
    session.exec(
        update(ParticipantToken)
        .where(col(ParticipantToken.participant_id) == participant_id)
        .where(col(ParticipantToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def change_status(
    session: Session, actor: Actor, participant: Participant, change: StatusChange, now: datetime
) -> Participant:
    old, new = ParticipantStatus(participant.status), change.status
    if new not in TRANSITIONS[old]:
        raise Conflict(f"A participant cannot go from {old} to {new}", code="invalid_transition")
    participant.status = new
    participant.status_changed_at = now
    session.add(participant)
    if new == ParticipantStatus.withdrawn:
        # Withdrawal ends access at once; the data stays.
        revoke_tokens(session, participant.id, now)
        session.exec(
            update(EnrollmentCode)
            .where(col(EnrollmentCode.participant_id) == participant.id)
            .where(col(EnrollmentCode.used_at).is_(None), col(EnrollmentCode.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        _deactivate_device(session, participant.id, "withdrawn")
    audit.record(
        session,
        actor,
        "participant.status",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"from": old, "to": new, "reason": change.reason},
    )
    session.flush()
    return participant


def _allocate_arm(session: Session, study: Study, participant: Participant, now: datetime) -> Arm:
    """Allocate the next slot of the participant's stratum."""
    arms = list(session.exec(select(Arm).where(Arm.study_id == study.id)))
    weights = [ArmWeight(arm.key, arm.weight) for arm in arms]
    stratum = stratum_key(study.stratify_by, participant.strata)
    # Concurrent enrollments into one stratum take their slots one after another (the
    # unique (study, stratum, sequence) constraint stays as the safety net).
    lock_keys(session, f"allocation:{study.id}:{stratum}")
    next_no = session.exec(
        select(func.coalesce(func.max(Allocation.sequence_no) + 1, 0)).where(
            Allocation.study_id == study.id, Allocation.stratum == stratum
        )
    ).one()
    drawn = allocate(study.randomization_seed, stratum, next_no, weights, study.block_size)
    session.add(
        Allocation(
            study_id=study.id,
            stratum=stratum,
            sequence_no=next_no,
            block_no=drawn.block_no,
            block_size=drawn.block_size,
            arm_key=drawn.arm_key,
            participant_id=participant.id,
            at=now,
        )
    )
    return next(arm for arm in arms if arm.key == drawn.arm_key)


@dataclass(frozen=True)
class EnrollmentLimit:
    """Refused codes allowed per client address within the window (seconds)."""

    max_failures: int
    window_seconds: int


def prune_enrollment_failures(session: Session, window_seconds: int, now: datetime) -> int:
    """Delete the refused codes older than the rate limit's window: none of them counts
    toward a refusal any more."""
    since = now - timedelta(seconds=window_seconds)
    return session.exec(delete(EnrollmentFailure).where(col(EnrollmentFailure.at) < since)).rowcount


def enroll(
    session: Session, code: str, client_address: str, limit: EnrollmentLimit, now: datetime
) -> tuple[Participant, Study, str] | Problem:
    """Redeem a one-time code: allocate an arm, activate, and return a participant token.

    A refusal for a bad code or too many of them is returned, not raised: the failure it
    records must commit with it."""
    # Parallel guesses from one address are counted one after another.
    lock_keys(session, f"enroll.address:{client_address}")
    since = now - timedelta(seconds=limit.window_seconds)
    failures = list(
        session.exec(
            select(EnrollmentFailure.at)
            .where(
                EnrollmentFailure.client_address == client_address,
                col(EnrollmentFailure.at) >= since,
            )
            .order_by(col(EnrollmentFailure.at))
        )
    )
    if len(failures) >= limit.max_failures:
        wait = seconds_until_under(failures, limit.max_failures, limit.window_seconds, now)
        return TooManyRequests(
            "Too many refused enrollment codes; try again later", retry_after=wait
        )
    row = session.exec(
        select(EnrollmentCode, Participant, Study)
        .join(Participant, Participant.id == EnrollmentCode.participant_id)  # type: ignore[arg-type]
        .join(Study, Study.id == Participant.study_id)  # type: ignore[arg-type]
        .where(EnrollmentCode.code_hash == secret_digest(normalize_enrollment_code(code)))
        # Two phones redeeming one code at once: the second waits, then sees it used.
        .with_for_update(of=EnrollmentCode)
    ).first()
    # One answer for unknown, used, revoked and expired codes: nothing to probe.
    if row is None or row[0].used_at or row[0].revoked_at or row[0].expires_at <= now:
        session.add(EnrollmentFailure(client_address=client_address, at=now))
        return Invalid("body.code", "This enrollment code is not valid", code="invalid_code")
    enrollment_code, participant, study = row
    if study.status != StudyStatus.active:
        raise Conflict("The study is not open for enrollment", code="study_not_active")
    enrollment_code.used_at = now
    session.add(enrollment_code)
    arm = _allocate_arm(session, study, participant, now)
    participant.arm_id = arm.id
    participant.status = ParticipantStatus.active
    participant.enrolled_at = participant.status_changed_at = now
    session.add(participant)
    token = new_participant_token()
    session.add(
        ParticipantToken(
            participant_id=participant.id, token_hash=secret_digest(token), created_at=now
        )
    )
    audit.record(
        session,
        Actor("participant", str(participant.id)),
        "participant.enroll",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=study.id,
    )
    session.flush()
    return participant, study, token


def list_allocations(session: Session, access: StudyAccess, page: PageParams) -> Page[Allocation]:
    query = (
        select(Allocation)
        .where(Allocation.study_id == access.study.id)
        .order_by(col(Allocation.at), col(Allocation.stratum), col(Allocation.sequence_no))
    )
    return paginate(session, query, page)


def _deactivate_device(session: Session, participant_id: uuid.UUID, reason: str) -> None:
    session.exec(
        update(Device)
        .where(col(Device.participant_id) == participant_id, col(Device.active).is_(True))
        .values(active=False, deactivated_reason=reason)
    )


def register_device(
    session: Session,
    participant: Participant,
    identifier: str,
    identifier_kind: str,
    platform: str,
    now: datetime,
) -> Device:
    """Register or refresh the participant's phone; an identifier moves with its phone."""
    taken = session.exec(
        select(Device).where(
            Device.identifier == identifier, Device.participant_id != participant.id
        )
    ).first()
    if taken is not None:
        session.delete(taken)
        audit.record(
            session,
            Actor("participant", str(participant.id)),
            "device.moved",
            at=now,
            resource_type="device",
            resource_id=taken.id,
            study_id=participant.study_id,
            details={"from_participant": str(taken.participant_id)},
        )
        session.flush()
    device = session.exec(select(Device).where(Device.participant_id == participant.id)).first()
    if device is None:
        device = Device(
            participant_id=participant.id,
            identifier=identifier,
            created_at=now,
            identifier_kind=identifier_kind,
            platform=platform,
            last_seen_at=now,
        )
    device.identifier = identifier
    device.identifier_kind = identifier_kind
    device.platform = platform
    device.active = True
    device.deactivated_reason = None
    device.last_seen_at = now
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This device was registered concurrently; retry", code="device_busy"
        ) from exc
    return device


def remove_device(session: Session, participant: Participant) -> None:
    device = session.exec(select(Device).where(Device.participant_id == participant.id)).first()
    if device is None:
        raise NotFound("No device is registered")
    session.delete(device)
    session.flush()


# Built once: every request of the participant's app runs it. Their study comes with them
# (nearly every such request reads it), into the session's identity map.
_BY_TOKEN = (
    select(Participant, col(ParticipantToken.revoked_at), Study)
    .join(ParticipantToken, col(ParticipantToken.participant_id) == Participant.id)
    .join(Study, col(Study.id) == Participant.study_id)
    .where(ParticipantToken.token_hash == bindparam("token_hash"))
)


_TOKEN_STUDY = "participant_study"


def participant_for_token(session: Session, token: str) -> Participant:
    """Who a participant token belongs to (tokens are issued at enrollment, above)."""
    found = session.execute(_BY_TOKEN, {"token_hash": secret_digest(token)}).first()
    if found is None:
        raise Unauthorized("The participant token is not valid", code="invalid_token")
    participant: Participant = found[0]
    if participant.status == ParticipantStatus.withdrawn:
        # Withdrawal revoked the token; its holder is told why, so the app can say so and
        # stop instead of asking for a new code.
        raise Unauthorized(
            "You have left the study: this app no longer sends or receives anything",
            code="participant_withdrawn",
        )
    if found[1] is not None:
        raise Unauthorized("The participant token is not valid", code="invalid_token")
    # The identity map holds objects weakly: referenced from the session, the study stays
    # in it for the request, and reading it again by key (a check-in does) costs no query.
    session.info[_TOKEN_STUDY] = found[2]
    return participant


def count_by_status(
    session: Session, study_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many participants each study has, by status."""
    counts: dict[uuid.UUID, dict[str, int]] = {study_id: {} for study_id in study_ids}
    if not study_ids:
        return counts
    for study_id, status, count in session.exec(
        select(col(Participant.study_id), col(Participant.status), func.count())
        .where(col(Participant.study_id).in_(study_ids))
        .group_by(col(Participant.study_id), col(Participant.status))
    ):
        counts[study_id][str(status)] = int(count)
    return counts
