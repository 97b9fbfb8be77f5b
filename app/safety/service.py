"""A study's safety settings and crisis resources, and its safety events."""

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.questionnaire import localized_text
from app.errors import Conflict, NotFound
from app.pagination import Page, PageParams, paginate
from app.safety.models import SafetyEvent, StudyTailoring
from app.safety.screen import CrisisResources, SafetySettings, default_crisis_resources


def create_tailoring(
    session: Session, study_id: uuid.UUID, library_id: uuid.UUID, now: datetime
) -> StudyTailoring:
    tailoring = StudyTailoring(
        study_id=study_id,
        library_id=library_id,
        safety_settings=SafetySettings().model_dump(),
        crisis_resources={
            locale: resources.model_dump()
            for locale, resources in default_crisis_resources().items()
        },
        updated_at=now,
    )
    session.add(tailoring)
    return tailoring


def safety_of(
    session: Session, study_id: uuid.UUID
) -> tuple[SafetySettings, dict[str, CrisisResources]]:
    tailoring = session.get_one(StudyTailoring, study_id)
    resources = {
        locale: CrisisResources.model_validate(value)
        for locale, value in tailoring.crisis_resources.items()
    }
    return SafetySettings.model_validate(tailoring.safety_settings), resources


def save_safety(
    session: Session,
    study_id: uuid.UUID,
    actor: Actor,
    settings: SafetySettings,
    resources: dict[str, CrisisResources],
    now: datetime,
) -> None:
    tailoring = session.get_one(StudyTailoring, study_id)
    tailoring.safety_settings = settings.model_dump()
    tailoring.crisis_resources = {locale: value.model_dump() for locale, value in resources.items()}
    tailoring.updated_at = now
    session.add(tailoring)
    audit.record(
        session,
        actor,
        "safety.update",
        at=now,
        resource_type="study",
        resource_id=study_id,
        study_id=study_id,
        details={"settings": tailoring.safety_settings, "locales": sorted(resources)},
    )
    session.commit()


def crisis_resources_for(
    resources: dict[str, CrisisResources], locale: str | None, default_locale: str
) -> CrisisResources:
    chosen = localized_text({key: key for key in resources}, locale, default_locale)
    return resources[chosen]


def list_events(
    session: Session, study_id: uuid.UUID, open_only: bool, page: PageParams
) -> Page[SafetyEvent]:
    query = select(SafetyEvent).where(SafetyEvent.study_id == study_id)
    if open_only:
        query = query.where(col(SafetyEvent.acknowledged_at).is_(None))
    return paginate(session, query.order_by(col(SafetyEvent.created_at).desc()), page)


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
    session.commit()
    session.refresh(event)
    return event
