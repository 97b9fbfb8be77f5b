"""A study's safety settings and crisis resources, and its safety events."""

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, func
from sqlmodel import Session, col, select

from app import metrics
from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.models import CheckIn
from app.db import read_columns
from app.errors import Conflict, NotFound
from app.pagination import Page, PageParams, paginate
from app.rules.items import localized_text
from app.safety.models import SafetyEvent, StudySafety
from app.safety.schemas import SafetyView
from app.safety.screen import (
    CrisisResources,
    SafetyScreen,
    SafetySettings,
    default_crisis_resources,
)
from app.studies.models import Participant


def set_up_safety(session: Session, study_id: uuid.UUID, now: datetime) -> StudySafety:
    """A new study's default thresholds and built-in crisis resources."""
    safety = StudySafety(
        study_id=study_id,
        safety_settings=SafetySettings().model_dump(),
        crisis_resources={
            locale: resources.model_dump()
            for locale, resources in default_crisis_resources().items()
        },
        updated_at=now,
    )
    session.add(safety)
    return safety


# Built once: every check-in reads it, and building a statement costs more than running it.
_SAFETY_OF = select(StudySafety.safety_settings, StudySafety.crisis_resources).where(
    StudySafety.study_id == bindparam("study_id")
)


def safety_of(
    session: Session, study_id: uuid.UUID
) -> tuple[SafetySettings, dict[str, CrisisResources]]:
    settings, crisis_resources = read_columns(session, _SAFETY_OF, {"study_id": study_id}).one()
    resources = {
        locale: CrisisResources.model_validate(value) for locale, value in crisis_resources.items()
    }
    return SafetySettings.model_validate(settings), resources


def save_safety(
    session: Session,
    study_id: uuid.UUID,
    actor: Actor,
    settings: SafetySettings,
    resources: dict[str, CrisisResources],
    now: datetime,
) -> None:
    safety = session.get_one(StudySafety, study_id)
    safety.safety_settings = settings.model_dump()
    safety.crisis_resources = {locale: value.model_dump() for locale, value in resources.items()}
    safety.updated_at = now
    session.add(safety)
    audit.record(
        session,
        actor,
        "safety.update",
        at=now,
        resource_type="study",
        resource_id=study_id,
        study_id=study_id,
        details={"settings": safety.safety_settings, "locales": sorted(resources)},
    )
    session.flush()


def crisis_resources_for(
    resources: dict[str, CrisisResources], locale: str | None, default_locale: str
) -> CrisisResources:
    chosen = localized_text({key: key for key in resources}, locale, default_locale)
    return resources[chosen]


def crisis_view(
    screened: SafetyScreen,
    resources: dict[str, CrisisResources],
    locale: str | None,
    default_locale: str,
) -> SafetyView:
    """What the participant sees after a positive screen: the tier and the resources in
    their language."""
    assert screened.tier is not None, "only a positive screen shows crisis resources"
    chosen = crisis_resources_for(resources, locale, default_locale)
    return SafetyView(tier=screened.tier, resources=chosen)


def open_event(
    session: Session, checkin: CheckIn, screened: SafetyScreen, now: datetime
) -> SafetyEvent:
    """A positive screen: an event the study's clinicians see until one acknowledges it."""
    assert screened.tier is not None, "only a positive screen opens an event"
    event = SafetyEvent(
        study_id=checkin.study_id,
        participant_id=checkin.participant_id,
        checkin_id=checkin.id,
        tier=screened.tier,
        items=screened.items,
        created_at=now,
    )
    metrics.SAFETY_EVENTS.labels(screened.tier).inc()
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    study_id: uuid.UUID,
    open_only: bool,
    page: PageParams,
    participant_id: uuid.UUID | None = None,
) -> Page[SafetyEvent]:
    query = select(SafetyEvent).where(SafetyEvent.study_id == study_id)
    if participant_id is not None:
        query = query.where(SafetyEvent.participant_id == participant_id)
    if open_only:
        query = query.where(col(SafetyEvent.acknowledged_at).is_(None))
    return paginate(session, query.order_by(col(SafetyEvent.created_at).desc()), page)


def _open_in(study_ids: Collection[uuid.UUID]) -> ColumnElement[bool]:
    return and_(
        col(SafetyEvent.study_id).in_(list(study_ids)), col(SafetyEvent.acknowledged_at).is_(None)
    )


def open_events_in(
    session: Session, study_ids: Collection[uuid.UUID], page: PageParams
) -> Page[tuple[SafetyEvent, str]]:
    """The open events of these studies, newest first, each with its participant's
    pseudonym (a safety inbox across the caller's studies)."""
    query = (
        select(SafetyEvent, Participant.pseudonym)
        .join(Participant, col(Participant.id) == SafetyEvent.participant_id)
        .where(_open_in(study_ids))
        .order_by(col(SafetyEvent.created_at).desc(), col(SafetyEvent.id))
    )
    return paginate(session, query, page)


def count_open_in(session: Session, study_ids: Collection[uuid.UUID]) -> int:
    return session.exec(
        select(func.count()).select_from(SafetyEvent).where(_open_in(study_ids))
    ).one()


def acknowledge(
    session: Session,
    study_id: uuid.UUID,
    event_id: uuid.UUID,
    actor: Actor,
    user_id: uuid.UUID,
    note: str,
    now: datetime,
) -> SafetyEvent:
    event = session.exec(
        select(SafetyEvent).where(SafetyEvent.id == event_id, SafetyEvent.study_id == study_id)
    ).first()
    if event is None:
        raise NotFound("No such safety event", code="safety_event_not_found")
    if event.acknowledged_at is not None:
        raise Conflict("This safety event was already acknowledged", code="already_acknowledged")
    event.acknowledged_at, event.acknowledged_by, event.note = now, user_id, note
    metrics.safety_acknowledged(event.tier, event.created_at, now)
    session.add(event)
    audit.record(
        session,
        actor,
        "safety_event.acknowledge",
        at=now,
        resource_type="safety_event",
        resource_id=event.id,
        study_id=study_id,
    )
    session.flush()
    return event
