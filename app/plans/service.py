"""Personal plans (versioned, with authorship), the study's review settings, the
clinician's review of a participant and the "review suggested" flags.

The review reads other domains' tables (detections, deliveries, prompts, safety events),
never their services. Audit events of plan changes carry the version, the sections changed
and the counts of entries: never the client's words.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.audit.service import SYSTEM, Actor
from app.auth.models import StaffUser
from app.checkins.models import Detection
from app.db import read_columns
from app.errors import Conflict, Invalid, NotFound
from app.pagination import Page, PageParams, paginate
from app.plans.content import PlanContent, changed_sections, entry_counts, with_entry_ids
from app.plans.models import PlanVersion, ReviewFlag, ReviewSettingsRecord
from app.plans.review import (
    Adherence,
    NeedPoint,
    Offered,
    ReviewSettings,
    Suggestion,
    skill_ratings,
    suggestion,
    trends,
)
from app.plans.schemas import (
    AdherenceOut,
    Author,
    PlanChange,
    ReviewFlagOut,
    ReviewOut,
    SafetyEventBrief,
)
from app.safety.models import SafetyEvent
from app.scheduling.models import Prompt, PromptStatus
from app.skills.models import Delivery
from app.studies.models import Participant, Study
from app.versioning import latest_version, version_page
from app.vocabulary import ParticipantStatus, StudyStatus

# --- the plan ------------------------------------------------------------------------


def plan_of(session: Session, participant_id: uuid.UUID) -> PlanVersion | None:
    """The newest version: the plan."""
    return latest_version(session, PlanVersion, col(PlanVersion.participant_id) == participant_id)


def content_of(version: PlanVersion | None) -> PlanContent:
    return _content(None if version is None else version.sections)


def _content(sections: dict[str, Any] | None) -> PlanContent:
    return PlanContent() if sections is None else PlanContent.model_validate(sections)


# Built once: a check-in reads it, and building a statement costs more than running it.
_PLAN_SECTIONS = (
    select(PlanVersion.sections)
    .where(PlanVersion.participant_id == bindparam("participant_id"))
    .order_by(col(PlanVersion.version).desc())
    .limit(1)
)


def plan_content(session: Session, participant_id: uuid.UUID) -> PlanContent:
    """What the plan in force says (empty without one)."""
    return _content(
        read_columns(session, _PLAN_SECTIONS, {"participant_id": participant_id}).scalar()
    )


def plan_version_page(
    session: Session, participant_id: uuid.UUID, page: PageParams
) -> Page[PlanVersion]:
    return version_page(
        session, PlanVersion, page, col(PlanVersion.participant_id) == participant_id
    )


def author_of(session: Session, version: PlanVersion) -> Author:
    if version.author_id is None:
        return Author(type="client")
    staff = session.get_one(StaffUser, version.author_id)
    return Author(type="staff", staff_id=staff.id, email=staff.email, name=staff.full_name)


def save_plan(
    session: Session,
    participant: Participant,
    actor: Actor,
    staff_id: uuid.UUID | None,
    sections: PlanContent,
    based_on: int | None,
    now: datetime,
) -> PlanVersion:
    """A new version by the client (no staff id) or a member of staff; an edit that changes
    nothing keeps the version it was made on."""
    if participant.erased_at is not None:
        raise Conflict("This participant's data was erased", code="participant_erased")
    current = plan_of(session, participant.id)
    version = current.version if current else 0
    if based_on is not None and based_on != version:
        raise Conflict(
            f"The plan changed since version {based_on}: it is at version {version}",
            code="plan_changed",
        )
    previous = content_of(current)
    content, next_entry, problems = with_entry_ids(
        sections, previous, current.next_entry if current else 1
    )
    if problems:
        raise Invalid.of([(f"body.sections.{path}", message) for path, message in problems])
    changed = changed_sections(previous, content)
    if current is not None and not changed:
        return current
    saved = PlanVersion(
        study_id=participant.study_id,
        participant_id=participant.id,
        version=version + 1,
        sections=content.model_dump(mode="json"),
        entry_counts=entry_counts(content),
        changed=changed,
        next_entry=next_entry,
        author_type="client" if staff_id is None else "staff",
        author_id=staff_id,
        created_at=now,
    )
    # A savepoint: an edit racing in on another connection takes the same version number,
    # and the loser is told the plan changed rather than failing the request.
    try:
        with session.begin_nested():
            session.add(saved)
    except IntegrityError:
        raise Conflict("The plan changed while you edited it", code="plan_changed") from None
    audit.record(
        session,
        actor,
        "plan.update",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"version": saved.version, "changed": changed, "entries": saved.entry_counts},
    )
    session.flush()
    return saved


def plan_changes(
    session: Session, participant_id: uuid.UUID, start: datetime, end: datetime | None
) -> list[PlanChange]:
    versions = session.execute(_PLAN_CHANGES, _period(participant_id, start, end)).scalars()
    return [
        PlanChange(
            version=version.version,
            changed=version.changed,
            author=author_of(session, version),
            created_at=version.created_at,
        )
        for version in versions
    ]


# --- review settings -----------------------------------------------------------------


_REVIEW_SETTINGS = select(ReviewSettingsRecord.settings).where(
    ReviewSettingsRecord.study_id == bindparam("study_id")
)


def review_settings(session: Session, study_id: uuid.UUID) -> ReviewSettings:
    return _settings_of(read_columns(session, _REVIEW_SETTINGS, {"study_id": study_id}).scalar())


def _settings_of(stored: dict[str, Any] | None) -> ReviewSettings:
    return ReviewSettings() if stored is None else ReviewSettings.model_validate(stored)


def save_review_settings(
    session: Session, study_id: uuid.UUID, actor: Actor, settings: ReviewSettings, now: datetime
) -> ReviewSettings:
    record = session.get(ReviewSettingsRecord, study_id) or ReviewSettingsRecord(
        study_id=study_id, updated_at=now
    )
    record.settings, record.updated_at = settings.model_dump(), now
    session.add(record)
    audit.record(
        session,
        actor,
        "review_settings.update",
        at=now,
        resource_type="study",
        resource_id=study_id,
        study_id=study_id,
        details=record.settings,
    )
    session.flush()
    return settings


# --- what a period holds -------------------------------------------------------------


# A period's reads are built once (each check-in refreshes its person's flag, and building
# a statement costs more than running it): start <= column < end, a period without an end
# ending at the last representable day.
_OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)


def _in_period(column: Any) -> list[ColumnElement[bool]]:
    return [col(column) >= bindparam("start"), col(column) < bindparam("end")]


def _period(participant_id: uuid.UUID, start: datetime, end: datetime | None) -> dict[str, Any]:
    return {"participant_id": participant_id, "start": start, "end": end or _OPEN_END}


_PLAN_CHANGES = (
    select(PlanVersion)
    .where(
        PlanVersion.participant_id == bindparam("participant_id"),
        *_in_period(PlanVersion.created_at),
    )
    .order_by(col(PlanVersion.version))
)
_NEED_POINTS = (
    select(Detection.at, Detection.needs, Detection.target, Detection.distress)
    .where(Detection.participant_id == bindparam("participant_id"), *_in_period(Detection.at))
    .order_by(col(Detection.sequence))
)
_OFFERED = (
    select(Delivery.skill_key, Delivery.helpfulness, Detection.distress, Delivery.distress_after)
    .join(Detection, col(Detection.checkin_id) == Delivery.checkin_id, isouter=True)
    .where(
        Delivery.participant_id == bindparam("participant_id"),
        col(Delivery.skill_key).is_not(None),
        *_in_period(Delivery.created_at),
    )
)
_ADHERENCE = select(
    func.count(),
    func.coalesce(func.sum(case((col(Prompt.status) == PromptStatus.answered, 1), else_=0)), 0),
).where(
    Prompt.participant_id == bindparam("participant_id"),
    *_in_period(Prompt.scheduled_at),
    Prompt.scheduled_at <= bindparam("now"),
    col(Prompt.status).not_in([PromptStatus.canceled, PromptStatus.skipped]),
)


def _need_points(session: Session, period: dict[str, Any]) -> list[NeedPoint]:
    return [_need_point(*row) for row in read_columns(session, _NEED_POINTS, period)]


def _need_point(
    at: datetime, needs: dict[str, Any], target: str | None, distress: float | None
) -> NeedPoint:
    return NeedPoint.model_validate(
        {"at": at, "needs": needs, "target": target, "distress": distress}
    )


def _offered(session: Session, period: dict[str, Any]) -> list[Offered]:
    return [
        Offered(skill_key=key, helpfulness=rating, distress_before=before, distress_after=after)
        for key, rating, before, after in read_columns(session, _OFFERED, period)
        if key is not None
    ]


def _adherence(session: Session, period: dict[str, Any], now: datetime) -> Adherence:
    """The period's prompts that were due (scheduled by now, neither canceled nor skipped),
    and answered."""
    due, answered = read_columns(session, _ADHERENCE, {**period, "now": now}).one()
    return Adherence(due=due, answered=answered)


def _suggest(
    session: Session,
    participant_id: uuid.UUID,
    settings: ReviewSettings,
    start: datetime,
    end: datetime | None,
    now: datetime,
) -> tuple[Suggestion, list[NeedPoint], list[Offered], Adherence]:
    period = _period(participant_id, start, end)
    points = _need_points(session, period)
    offered = _offered(session, period)
    adherence = _adherence(session, period, now)
    return suggestion(points, offered, adherence, settings), points, offered, adherence


# --- review flags --------------------------------------------------------------------


def open_flag(session: Session, participant_id: uuid.UUID) -> ReviewFlag | None:
    return session.exec(
        select(ReviewFlag).where(
            ReviewFlag.participant_id == participant_id, col(ReviewFlag.cleared_at).is_(None)
        )
    ).first()


# The participant's flags and their study's review settings, in one read.
_FLAGS = select(
    func.count().filter(col(ReviewFlag.cleared_at).is_(None)),
    func.max(ReviewFlag.cleared_at),
    _REVIEW_SETTINGS.scalar_subquery(),
).where(ReviewFlag.participant_id == bindparam("participant_id"))


def refresh_flag(
    session: Session, participant: Participant, now: datetime, pending: Detection | None = None
) -> ReviewFlag | None:
    """Raise "review suggested" when the study's period, up to now, says so. A clearing note
    starts a new period: what the clinician reviewed does not flag again. `pending` is the
    participant's latest detection when it is not stored yet (a check-in stores it last)."""
    keys = {"participant_id": participant.id, "study_id": participant.study_id}
    open_flags, cleared, stored = read_columns(session, _FLAGS, keys).one()
    if open_flags:
        return None
    settings = _settings_of(stored)
    start = now - timedelta(days=settings.period_days)
    if cleared is not None and cleared > start:
        start = cleared
    period = _period(participant.id, start, None)
    points = _need_points(session, period)
    if pending is not None:
        points.append(_need_point(pending.at, pending.needs, pending.target, pending.distress))
    # Too few check-ins flag nothing (`suggestion`), so the rest is not read then.
    if len(points) < settings.min_checkins:
        return None
    offered, adherence = _offered(session, period), _adherence(session, period, now)
    found = suggestion(points, offered, adherence, settings)
    if not found.reasons:
        return None
    flag = ReviewFlag(
        study_id=participant.study_id,
        participant_id=participant.id,
        raised_at=now,
        reasons=list(found.reasons),
        evidence=found.evidence,
    )
    session.add(flag)
    audit.record(
        session,
        SYSTEM,
        "review_flag.raise",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"reasons": flag.reasons},
    )
    session.flush()
    return flag


def refresh_flags(session: Session, now: datetime) -> int:
    """Refresh the flag of everyone taking part in an active study; returns how many were
    raised. Check-ins refresh their own participant's flag, but adherence falls exactly when
    no check-in comes, so the worker sweeps as well."""
    taking_part = session.exec(
        select(Participant)
        .join(Study, col(Study.id) == Participant.study_id)
        .where(
            Study.status == StudyStatus.active,
            Participant.status == ParticipantStatus.active,
        )
    ).all()
    return sum(refresh_flag(session, participant, now) is not None for participant in taking_part)


def clear_flag(
    session: Session,
    participant: Participant,
    actor: Actor,
    staff_id: uuid.UUID,
    note: str,
    now: datetime,
) -> ReviewFlag:
    flag = open_flag(session, participant.id)
    if flag is None:
        raise NotFound("This participant has no open review flag", code="no_open_flag")
    flag.cleared_at, flag.cleared_by, flag.note = now, staff_id, note
    session.add(flag)
    audit.record(
        session,
        actor,
        "review_flag.clear",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"flag": str(flag.id), "reasons": flag.reasons},
    )
    session.flush()
    return flag


def flag_out(flag: ReviewFlag, pseudonym: str) -> ReviewFlagOut:
    return ReviewFlagOut.model_validate({**flag.model_dump(), "pseudonym": pseudonym})


def flag_page(
    session: Session, study_id: uuid.UUID, open_only: bool, page: PageParams
) -> Page[ReviewFlagOut]:
    query = (
        select(ReviewFlag, Participant.pseudonym)
        .join(Participant, col(Participant.id) == ReviewFlag.participant_id)
        .where(ReviewFlag.study_id == study_id)
    )
    if open_only:
        query = query.where(col(ReviewFlag.cleared_at).is_(None))
    found = paginate(session, query.order_by(col(ReviewFlag.raised_at).desc()), page)
    return found.with_items([flag_out(flag, pseudonym) for flag, pseudonym in found.items])


# --- the clinician's review ----------------------------------------------------------


def _open_events(session: Session, participant_id: uuid.UUID) -> Sequence[SafetyEvent]:
    return session.exec(
        select(SafetyEvent)
        .where(
            SafetyEvent.participant_id == participant_id,
            col(SafetyEvent.acknowledged_at).is_(None),
        )
        .order_by(col(SafetyEvent.created_at))
    ).all()


def review(
    session: Session,
    participant: Participant,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ReviewOut:
    """One participant over a period (by default the study's review period up to now)."""
    settings = review_settings(session, participant.study_id)
    shown_end = end or now
    start = start or shown_end - timedelta(days=settings.period_days)
    if start >= shown_end:
        raise Invalid("query.start", "start must be before end")
    # Without an end, everything up to now counts, the check-in of this very instant too.
    found, points, offered, adherence = _suggest(session, participant.id, settings, start, end, now)
    flag = open_flag(session, participant.id)
    return ReviewOut(
        participant_id=participant.id,
        pseudonym=participant.pseudonym,
        start=start,
        end=shown_end,
        check_ins=len(points),
        trends=trends(points),
        skills=skill_ratings(offered),
        adherence=AdherenceOut(due=adherence.due, answered=adherence.answered, rate=adherence.rate),
        open_safety_events=[
            SafetyEventBrief(id=event.id, tier=event.tier, created_at=event.created_at)
            for event in _open_events(session, participant.id)
        ],
        plan_changes=plan_changes(session, participant.id, start, end),
        suggested=found.reasons,
        flag=None if flag is None else flag_out(flag, participant.pseudonym),
    )
