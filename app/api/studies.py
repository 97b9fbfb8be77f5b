from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.access.scope import study_for
from app.api.deps import (
    CurrentStaff,
    ManageStudy,
    NowDep,
    OwnStudy,
    ReadStudy,
    SessionDep,
    staff_actor,
)
from app.audit import service as audit
from app.flows import studies as study_flow
from app.pagination import Page, PageDep, map_page
from app.studies import service
from app.studies.schemas import (
    ArmIn,
    ArmOut,
    ArmUpdate,
    AuditEventOut,
    MemberIn,
    MemberOut,
    StudyCreate,
    StudyOut,
    StudyUpdate,
    WebPushConfig,
)
from app.types import Instant

router = APIRouter(prefix="/v1/studies", tags=["studies"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyOut)
def create_study(
    data: StudyCreate, session: SessionDep, user: CurrentStaff, now: NowDep
) -> StudyOut:
    """Create a draft study; the creator becomes its owner."""
    study = study_flow.create_study(session, user, data, now)
    return service.study_out(session, study_for(session, user, study.id))


@router.get("", response_model=Page[StudyOut])
def list_studies(session: SessionDep, user: CurrentStaff, page: PageDep) -> Page[StudyOut]:
    """The studies you are a member of."""
    return service.list_studies(session, user, page)


@router.get("/{study_id}", response_model=StudyOut)
def read_study(access: ReadStudy, session: SessionDep) -> StudyOut:
    return service.study_out(session, access)


@router.patch("/{study_id}", response_model=StudyOut)
def update_study(
    data: StudyUpdate, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> StudyOut:
    """Change a draft study."""
    service.update_study(session, access, staff_actor(user), data, now)
    return service.study_out(session, access)


@router.post("/{study_id}/activate", response_model=StudyOut)
def activate_study(
    access: OwnStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> StudyOut:
    """Open a complete draft study for enrollment."""
    study_flow.activate_study(session, access, staff_actor(user), now)
    return service.study_out(session, access)


@router.post("/{study_id}/close", response_model=StudyOut)
def close_study(access: OwnStudy, session: SessionDep, user: CurrentStaff, now: NowDep) -> StudyOut:
    study_flow.close_study(session, access, staff_actor(user), now)
    return service.study_out(session, access)


@router.get("/{study_id}/web-push", response_model=WebPushConfig | None)
def read_web_push(access: ReadStudy) -> WebPushConfig | None:
    """The Firebase web app the participant web app gets its push token from (null: none)."""
    return service.web_push_of(access.study)


@router.put("/{study_id}/web-push", response_model=WebPushConfig)
def save_web_push(
    data: WebPushConfig, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> WebPushConfig:
    """Set the study's Firebase web app: its config object (apiKey, projectId,
    messagingSenderId, appId, optionally authDomain, storageBucket, measurementId) and the
    VAPID public key from the Firebase console's Cloud Messaging settings. Public values,
    given to every participant's web app."""
    service.save_web_push(session, access, staff_actor(user), data, now)
    return data


@router.delete("/{study_id}/web-push", status_code=status.HTTP_204_NO_CONTENT)
def remove_web_push(
    access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> Response:
    """The participant web app runs without pushes from now on (registered web devices stay
    until they are replaced)."""
    service.save_web_push(session, access, staff_actor(user), None, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{study_id}/arms", status_code=status.HTTP_201_CREATED, response_model=ArmOut)
def add_arm(
    data: ArmIn, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> ArmOut:
    return ArmOut.model_validate(service.add_arm(session, access, staff_actor(user), data, now))


@router.patch("/{study_id}/arms/{key}", response_model=ArmOut)
def update_arm(
    key: str,
    data: ArmUpdate,
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> ArmOut:
    arm = service.update_arm(session, access, staff_actor(user), key, data, now)
    return ArmOut.model_validate(arm)


@router.delete("/{study_id}/arms/{key}", status_code=status.HTTP_204_NO_CONTENT)
def delete_arm(
    key: str, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> Response:
    service.delete_arm(session, access, staff_actor(user), key, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/members", response_model=Page[MemberOut])
def list_members(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[MemberOut]:
    return service.list_members(session, access.study.id, page)


@router.put("/{study_id}/members", response_model=MemberOut)
def set_member(
    data: MemberIn, access: OwnStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> MemberOut:
    """Add a staff user by email, or change their role (owners only)."""
    return service.add_member(session, access, staff_actor(user), data, now)


@router.delete("/{study_id}/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    email: str, access: OwnStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> Response:
    """Remove a member by email (owners only; the last owner stays)."""
    service.remove_member(session, access, staff_actor(user), email, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/audit-events", response_model=Page[AuditEventOut])
def list_audit_events(
    access: OwnStudy,
    session: SessionDep,
    page: PageDep,
    action: str | None = None,
    actor_type: Annotated[
        Literal["staff", "participant", "system"] | None, Query(description="Who acted")
    ] = None,
    actor_id: Annotated[
        str | None, Query(max_length=64, description="The staff user's or participant's id")
    ] = None,
    start: Annotated[Instant | None, Query(description="Events from this instant on")] = None,
    end: Annotated[Instant | None, Query(description="Events before this instant")] = None,
) -> Page[AuditEventOut]:
    """The study's audit trail, newest first (owners only)."""
    filters = audit.EventFilters(action, actor_type, actor_id, start, end)
    events = audit.list_study_events(session, access.study.id, page, filters)
    return map_page(events, AuditEventOut.model_validate)
