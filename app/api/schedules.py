"""A study's prompt schedule, its preview, per-participant overrides and compliance."""

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import (
    CareParticipant,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadParticipant,
    ReadStudy,
    SessionDep,
    SettingsDep,
    staff_actor,
)
from app.errors import Invalid
from app.pagination import Page, PageDep, map_page
from app.scheduling import service
from app.scheduling.models import StudySchedule
from app.scheduling.schedule import WakingHours
from app.scheduling.schemas import (
    ComplianceOut,
    OverrideIn,
    OverrideOut,
    PreviewIn,
    PreviewOut,
    Reason,
    ScheduleIn,
    ScheduleOut,
)
from app.types import CalendarDate

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["schedules"])


def _schedule_out(saved: StudySchedule) -> ScheduleOut:
    return ScheduleOut.model_validate(saved, from_attributes=True)


@router.get("/schedule", response_model=ScheduleOut)
def read_schedule(access: ReadStudy, session: SessionDep) -> ScheduleOut:
    return _schedule_out(service.saved_schedule(session, access.study.id))


@router.put("/schedule", response_model=ScheduleOut)
def save_schedule(
    data: ScheduleIn,
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> ScheduleOut:
    """Save a new version of the schedule; on an active study every participant's future
    prompts are planned again (nothing already sent is sent twice)."""
    notification = {locale: text.model_dump() for locale, text in data.notification.items()}
    saved = service.save_schedule(
        session,
        access.study,
        staff_actor(user),
        user.id,
        data.schedule,
        notification,
        now,
        settings.plan_horizon,
    )
    return _schedule_out(saved)


@router.get("/schedule/versions", response_model=Page[ScheduleOut])
def schedule_versions(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[ScheduleOut]:
    """Every saved version, newest first."""
    return map_page(service.schedule_versions(session, access.study.id, page), _schedule_out)


@router.post("/schedule/preview", response_model=PreviewOut)
def preview_schedule(data: PreviewIn, access: ReadStudy, session: SessionDep) -> PreviewOut:
    """The prompts a participant in a given zone with given waking hours would get."""
    return service.preview_schedule(session, access.study, data)


@router.get("/participants/{participant_id}/schedule-override", response_model=OverrideOut)
def read_override(scope: ReadParticipant, session: SessionDep) -> OverrideOut:
    return service.override_out(session, scope.participant.id)


@router.put("/participants/{participant_id}/schedule-override", response_model=OverrideOut)
def set_override(
    data: OverrideIn,
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> OverrideOut:
    """Give one participant their own schedule (a new, audited version)."""
    service.set_override(
        session,
        scope.participant,
        staff_actor(user),
        user.id,
        data.schedule,
        data.reason,
        now,
        settings.plan_horizon,
    )
    return service.override_out(session, scope.participant.id)


@router.delete("/participants/{participant_id}/schedule-override", response_model=OverrideOut)
def lift_override(
    reason: Annotated[Reason, Query(description="Why the override is lifted")],
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> OverrideOut:
    """Return the participant to the study's schedule (recorded as a new version)."""
    service.set_override(
        session,
        scope.participant,
        staff_actor(user),
        user.id,
        None,
        reason,
        now,
        settings.plan_horizon,
    )
    return service.override_out(session, scope.participant.id)


@router.get("/participants/{participant_id}/waking-hours", response_model=WakingHours | None)
def read_waking_hours(scope: ReadParticipant, session: SessionDep) -> WakingHours | None:
    return service.waking_hours_of(session, scope.participant.id)


@router.put("/participants/{participant_id}/waking-hours", response_model=WakingHours)
def set_waking_hours(
    data: WakingHours,
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> WakingHours:
    return service.set_waking_hours(
        session, scope.participant, staff_actor(user), data, now, settings.plan_horizon
    )


@router.get("/compliance", response_model=ComplianceOut)
def compliance(
    access: ReadStudy,
    session: SessionDep,
    now: NowDep,
    start: Annotated[CalendarDate | None, Query(description="First UTC date (inclusive)")] = None,
    end: Annotated[CalendarDate | None, Query(description="Last UTC date (inclusive)")] = None,
) -> ComplianceOut:
    """Per participant and local day, and per day across the study: prompts planned, due,
    sent, opened, answered, expired, failed and undeliverable (no device), skipped decision
    points, and the compliance rate (answered / due); with the study's totals."""
    if start and end and end < start:
        raise Invalid("query.end", "end is before start")
    lower = None if start is None else datetime.combine(start, time(), UTC)
    upper = None if end is None else datetime.combine(end + timedelta(days=1), time(), UTC)
    return service.compliance(service.study_prompts(session, access.study.id, lower, upper), now)
