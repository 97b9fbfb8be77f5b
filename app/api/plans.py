"""The personal plan, written by the client (`/v1/me/plan`) and their clinicians (staff),
the clinician's review of a participant, and the study's "review suggested" flags."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session

from app.access import visibility
from app.api.deps import (
    CareParticipant,
    CareStudy,
    CurrentParticipant,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadParticipant,
    ReadStudy,
    SessionDep,
    participant_actor,
    staff_actor,
)
from app.flows import plans as plan_flow
from app.pagination import Page, PageDep, map_page
from app.plans import service
from app.plans.models import PlanVersion
from app.plans.review import ReviewSettings
from app.plans.schemas import (
    ClearFlagIn,
    PlanIn,
    PlanOut,
    PlanVersionOut,
    ReviewFlagOut,
    ReviewOut,
)
from app.studies.models import Participant
from app.types import Instant

router = APIRouter(prefix="/v1", tags=["participant app"])
staff_router = APIRouter(prefix="/v1/studies/{study_id}", tags=["plans and review"])


def _plan_out(session: Session, participant: Participant) -> PlanOut:
    current = service.plan_of(session, participant.id)
    return PlanOut(
        version=current.version if current else 0,
        sections=service.content_of(current),
        author=service.author_of(session, current) if current else None,
        updated_at=current.created_at if current else None,
    )


def _version_out(session: Session, version: PlanVersion) -> PlanVersionOut:
    return PlanVersionOut(
        version=version.version,
        sections=service.content_of(version),
        changed=version.changed,
        author=service.author_of(session, version),
        created_at=version.created_at,
    )


def _versions(session: Session, participant: Participant, page: PageDep) -> Page[PlanVersionOut]:
    versions = service.plan_version_page(session, participant.id, page)
    return map_page(versions, lambda version: _version_out(session, version))


# --- the client's own --------------------------------------------------------------------


@router.get("/me/plan", response_model=PlanOut)
def read_my_plan(participant: CurrentParticipant, session: SessionDep) -> PlanOut:
    """Your plan as it is now, whoever changed it last."""
    return _plan_out(session, participant)


@router.put("/me/plan", response_model=PlanOut)
def save_my_plan(
    data: PlanIn, participant: CurrentParticipant, session: SessionDep, now: NowDep
) -> PlanOut:
    """Write your plan: every section as you want it now (a new version)."""
    plan_flow.save_plan(
        session,
        participant,
        participant_actor(participant),
        None,
        data.sections,
        data.based_on_version,
        now,
    )
    return _plan_out(session, participant)


@router.get("/me/plan/versions", response_model=Page[PlanVersionOut])
def my_plan_versions(
    participant: CurrentParticipant, session: SessionDep, page: PageDep
) -> Page[PlanVersionOut]:
    """Every version of your plan, newest first, with who made it."""
    return _versions(session, participant, page)


# --- staff -------------------------------------------------------------------------------


@staff_router.get("/participants/{participant_id}/plan", response_model=PlanOut)
def read_plan(scope: ReadParticipant, session: SessionDep) -> PlanOut:
    return _plan_out(session, scope.participant)


@staff_router.put("/participants/{participant_id}/plan", response_model=PlanOut)
def save_plan(
    data: PlanIn, scope: CareParticipant, session: SessionDep, user: CurrentStaff, now: NowDep
) -> PlanOut:
    """Edit the client's plan with them (a new version by you; they see it at once)."""
    plan_flow.save_plan(
        session,
        scope.participant,
        staff_actor(user),
        user.id,
        data.sections,
        data.based_on_version,
        now,
    )
    return _plan_out(session, scope.participant)


@staff_router.get(
    "/participants/{participant_id}/plan/versions", response_model=Page[PlanVersionOut]
)
def plan_versions(
    scope: ReadParticipant, session: SessionDep, page: PageDep
) -> Page[PlanVersionOut]:
    return _versions(session, scope.participant, page)


@staff_router.get("/participants/{participant_id}/review", response_model=ReviewOut)
def review_participant(
    scope: CareParticipant,
    session: SessionDep,
    now: NowDep,
    start: Annotated[
        Instant | None, Query(description="From this instant (default: end - period)")
    ] = None,
    end: Annotated[Instant | None, Query(description="Before this instant (now)")] = None,
) -> ReviewOut:
    """Trends per dimension, what was offered and how it was rated, adherence, open safety
    events and what changed in the plan, over a period; and whether review is suggested."""
    return visibility.shown_review(
        scope.access, service.review(session, scope.participant, start, end, now)
    )


@staff_router.post("/participants/{participant_id}/review-flag/clear", response_model=ReviewFlagOut)
def clear_review_flag(
    data: ClearFlagIn, scope: CareParticipant, session: SessionDep, user: CurrentStaff, now: NowDep
) -> ReviewFlagOut:
    """Clear the open "review suggested" flag with a note (audited; the note is not)."""
    flag = service.clear_flag(
        session, scope.participant, staff_actor(user), user.id, data.note, now
    )
    return visibility.shown_flag(scope.access, service.flag_out(flag, scope.participant.pseudonym))


@staff_router.get("/review-flags", response_model=Page[ReviewFlagOut])
def list_review_flags(
    access: CareStudy,
    session: SessionDep,
    page: PageDep,
    open_only: Annotated[bool, Query(alias="open", description="Only flags not cleared")] = True,
) -> Page[ReviewFlagOut]:
    """The study's participants flagged for review, newest first."""
    flags = service.flag_page(session, access.study.id, open_only, page)
    return flags.with_items([visibility.shown_flag(access, flag) for flag in flags.items])


@staff_router.get("/review-settings", response_model=ReviewSettings)
def read_review_settings(access: ReadStudy, session: SessionDep) -> ReviewSettings:
    return service.review_settings(session, access.study.id)


@staff_router.put("/review-settings", response_model=ReviewSettings)
def save_review_settings(
    data: ReviewSettings, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> ReviewSettings:
    """When participants are flagged: the period, its check-ins, adherence and helpfulness."""
    return service.save_review_settings(session, access.study.id, staff_actor(user), data, now)
