"""A study's safety settings and crisis resources, and its safety inbox."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import (
    CareStudy,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadStudy,
    SessionDep,
    staff_actor,
)
from app.pagination import Page, PageDep, map_page
from app.safety import service
from app.safety.schemas import AcknowledgeIn, SafetyConfig, SafetyEventOut

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])


@router.get("/safety", response_model=SafetyConfig)
def read_safety(access: ReadStudy, session: SessionDep) -> SafetyConfig:
    settings, resources = service.safety_of(session, access.study.id)
    return SafetyConfig(settings=settings, resources=resources)


@router.put("/safety", response_model=SafetyConfig)
def save_safety(
    data: SafetyConfig, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> SafetyConfig:
    """Risk thresholds and the crisis resources shown after a positive screen, per locale."""
    service.save_safety(
        session, access.study.id, staff_actor(user), data.settings, data.resources, now
    )
    return data


@router.get("/safety-events", response_model=Page[SafetyEventOut])
def list_safety_events(
    access: CareStudy,
    session: SessionDep,
    page: PageDep,
    open_only: Annotated[bool, Query(alias="open", description="Only unacknowledged")] = False,
) -> Page[SafetyEventOut]:
    events = service.list_events(session, access.study.id, open_only, page)
    return map_page(events, lambda event: SafetyEventOut.model_validate(event.model_dump()))


@router.post("/safety-events/{event_id}/acknowledge", response_model=SafetyEventOut)
def acknowledge_safety_event(
    event_id: uuid.UUID,
    data: AcknowledgeIn,
    access: CareStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> SafetyEventOut:
    event = service.acknowledge(
        session, access.study.id, event_id, staff_actor(user), user.id, data.note, now
    )
    return SafetyEventOut.model_validate(event.model_dump())
