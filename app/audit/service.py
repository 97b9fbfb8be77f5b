import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.pagination import Page, PageParams, paginate
from app.requestid import current_request_id


@dataclass(frozen=True)
class Actor:
    type: str  # staff, participant, system
    id: str | None


SYSTEM = Actor("system", None)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    at: datetime,
    resource_type: str,
    resource_id: object | None = None,
    study_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction, so it commits with the change."""
    event = AuditEvent(
        at=at,
        actor_type=actor.type,
        actor_id=actor.id,
        study_id=study_id,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        request_id=current_request_id(),
        details=details or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class EventFilters:
    """Which of a study's events to list (None: any)."""

    action: str | None = None
    actor_type: str | None = None  # staff, participant, system
    actor_id: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def list_study_events(
    session: Session, study_id: uuid.UUID, page: PageParams, filters: EventFilters
) -> Page[AuditEvent]:
    """The study's events, newest first."""
    query = select(AuditEvent).where(AuditEvent.study_id == study_id)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor_type is not None:
        query = query.where(AuditEvent.actor_type == filters.actor_type)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.start is not None:
        query = query.where(AuditEvent.at >= filters.start)
    if filters.end is not None:
        query = query.where(AuditEvent.at < filters.end)
    query = query.order_by(col(AuditEvent.id).desc())
    return paginate(session, query, page)


def resource_events(
    session: Session,
    study_id: uuid.UUID,
    action: str,
    resource_type: str,
    resource_id: object,
    page: PageParams,
) -> Page[AuditEvent]:
    """One resource's events of one action within a study, newest first (a participant's
    status changes, say)."""
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.study_id == study_id,
            AuditEvent.action == action,
            AuditEvent.resource_type == resource_type,
            AuditEvent.resource_id == str(resource_id),
        )
        .order_by(col(AuditEvent.id).desc())
    )
    return paginate(session, query, page)
