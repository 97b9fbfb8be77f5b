"""Request dependencies: the unit of work, clock, settings, and who is calling in which scope."""

import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from app.access.scope import (
    CARE,
    MANAGE,
    OWNER,
    READ,
    StudyAccess,
    StudyParticipant,
    participant_in,
    study_for,
)
from app.audit.service import Actor
from app.auth import service as auth_service
from app.auth.models import StaffUser
from app.clock import Clock
from app.db import unit_of_work
from app.errors import Unauthorized
from app.push.base import PushSender
from app.settings import Settings
from app.studies import participants as participant_service
from app.studies.models import Participant
from app.studies.tokens import PARTICIPANT_TOKEN_PREFIX
from app.vocabulary import Role


def get_session(request: Request) -> Iterator[Session]:
    with unit_of_work(request.app.state.engine) as session:
        yield session


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def client_address(request: Request) -> str:
    """The address that failed attempts are counted by (the proxy's word only when trusted,
    see `server_config` in app/cli.py)."""
    return request.client.host if request.client else "unknown"


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_sender(request: Request) -> PushSender:
    sender: PushSender = request.app.state.sender
    return sender


def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> datetime:
    return clock.now()


# The request's one unit of work: it commits when the route function returns, before the
# response is sent (scope "function"), and rolls back when the route raises.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
NowDep = Annotated[datetime, Depends(get_now)]
SenderDep = Annotated[PushSender, Depends(get_sender)]

_bearer = HTTPBearer(auto_error=False, description="Staff JWT or participant token")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing bearer token", code="not_authenticated")
    return credentials.credentials


def current_staff(
    session: SessionDep, settings: SettingsDep, now: NowDep, credentials: BearerDep
) -> StaffUser:
    token = _bearer_token(credentials)
    if token.startswith(PARTICIPANT_TOKEN_PREFIX):
        raise Unauthorized("This route needs a staff token", code="invalid_token")
    return auth_service.staff_for_token(session, settings, token, now)


def current_participant(session: SessionDep, credentials: BearerDep) -> Participant:
    token = _bearer_token(credentials)
    if not token.startswith(PARTICIPANT_TOKEN_PREFIX):
        raise Unauthorized("This route needs a participant token", code="invalid_token")
    return participant_service.participant_for_token(session, token)


# What each dependency can refuse with, for the OpenAPI document (app/api/contract.py).
REFUSALS: dict[Callable[..., Any], tuple[int, ...]] = {
    current_staff: (401,),
    current_participant: (401,),
}

CurrentStaff = Annotated[StaffUser, Depends(current_staff)]
CurrentParticipant = Annotated[Participant, Depends(current_participant)]


def staff_actor(user: StaffUser) -> Actor:
    return Actor("staff", str(user.id))


def participant_actor(participant: Participant) -> Actor:
    return Actor("participant", str(participant.id))


StaffDependency = Callable[..., StaffUser]


def study_access(roles: Collection[Role], staff: StaffDependency = current_staff) -> Any:
    """The study of the path as the caller (`staff`: the API's bearer token, or the
    console's session) may act in it with one of `roles`."""

    # A dependency, so a caller who may not see the study gets 404 before the body is read.
    def dependency(
        study_id: uuid.UUID, session: SessionDep, user: Annotated[StaffUser, Depends(staff)]
    ) -> StudyAccess:
        return study_for(session, user, study_id, roles)

    REFUSALS[dependency] = (404,) if set(roles) >= set(Role) else (403, 404)
    return Depends(dependency)


def study_participant(roles: Collection[Role], staff: StaffDependency = current_staff) -> Any:
    # The participant only within the caller's study: 404 for anyone else's, before the body.
    def dependency(
        participant_id: uuid.UUID,
        access: Annotated[StudyAccess, study_access(roles, staff)],
        session: SessionDep,
    ) -> StudyParticipant:
        return participant_in(session, access, participant_id)

    REFUSALS[dependency] = (404,)
    return Depends(dependency)


ReadStudy = Annotated[StudyAccess, study_access(READ)]
CareStudy = Annotated[StudyAccess, study_access(CARE)]
ManageStudy = Annotated[StudyAccess, study_access(MANAGE)]
OwnStudy = Annotated[StudyAccess, study_access(OWNER)]
ReadParticipant = Annotated[StudyParticipant, study_participant(READ)]
CareParticipant = Annotated[StudyParticipant, study_participant(CARE)]
ManageParticipant = Annotated[StudyParticipant, study_participant(MANAGE)]
