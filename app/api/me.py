"""What a participant's phone calls with its participant token."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from app.api.contract import problems
from app.api.deps import (
    CurrentParticipant,
    NowDep,
    SessionDep,
    SettingsDep,
    client_address,
    participant_actor,
)
from app.errors import Problem, problem_json
from app.flows import participants as participant_flow
from app.studies import data_rights
from app.studies import participants as service
from app.studies import service as study_service
from app.studies.models import Participant, Study
from app.studies.schemas import ParticipantSelfUpdate, WebPushConfig
from app.types import INPUT
from app.vocabulary import ParticipantStatus

router = APIRouter(prefix="/v1", tags=["participant app"])


class EnrollIn(BaseModel):
    model_config = INPUT
    code: str = Field(min_length=1, max_length=64)


class EnrolledOut(BaseModel):
    participant_id: str
    pseudonym: str
    study_name: str
    token: str = Field(description="Participant bearer token; keep it on the phone only")


class MeOut(BaseModel):
    pseudonym: str
    study_name: str
    status: ParticipantStatus
    timezone: str
    locale: str
    enrolled_at: datetime | None
    web_push: WebPushConfig | None = Field(
        description="The study's Firebase web app, for a web app's push token (register it "
        "with PUT /v1/me/device, platform web); null: no pushes to a web app"
    )


class DeviceIn(BaseModel):
    model_config = INPUT
    token: str = Field(min_length=1, max_length=1024, description="FCM registration token or FID")
    kind: Literal["token", "fid"] = "token"
    platform: Literal["android", "ios", "web"]


class DeviceOut(BaseModel):
    platform: str
    kind: str
    active: bool
    last_seen_at: datetime


@router.post(
    "/enroll",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolledOut,
    responses=problems(429),
)
def enroll(
    data: EnrollIn, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> EnrolledOut | JSONResponse:
    """Redeem a one-time enrollment code for a participant token. Refused codes are
    limited per client address: past the limit, 429 with Retry-After."""
    limit = service.EnrollmentLimit(
        settings.enrollment_max_failures_per_address, settings.enrollment_window_seconds
    )
    outcome = participant_flow.enroll(
        session, data.code, client_address(request), limit, now, settings.plan_horizon
    )
    if isinstance(outcome, Problem):
        # Returned, not raised: the refused code counts toward the limit, so this
        # request's unit of work commits it.
        return problem_json(outcome)
    participant, study, token = outcome
    return EnrolledOut(
        participant_id=str(participant.id),
        pseudonym=participant.pseudonym,
        study_name=study.name,
        token=token,
    )


def _me_out(session: Session, participant: Participant) -> MeOut:
    study = session.get_one(Study, participant.study_id)
    return MeOut(
        pseudonym=participant.pseudonym,
        study_name=study.name,
        status=participant.status,
        timezone=participant.timezone,
        locale=participant.locale or study.default_locale,
        enrolled_at=participant.enrolled_at,
        web_push=study_service.web_push_of(study),
    )


@router.get("/me", response_model=MeOut)
def read_me(participant: CurrentParticipant, session: SessionDep) -> MeOut:
    return _me_out(session, participant)


@router.patch("/me", response_model=MeOut)
def update_me(
    data: ParticipantSelfUpdate,
    participant: CurrentParticipant,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> MeOut:
    """The phone reports a new time zone (travel) or the reader's language."""
    participant_flow.update_participant(
        session, participant_actor(participant), participant, data, now, settings.plan_horizon
    )
    return _me_out(session, participant)


@router.get("/me/data")
def read_my_data(participant: CurrentParticipant, session: SessionDep, now: NowDep) -> Any:
    """Everything stored about you, table by table, as JSON. While the study is active and
    blinds the download (its `blind_participant_download` setting, on by default), your arm
    and the notes staff wrote are left out; `withheld` names those columns."""
    return data_rights.personal_data(session, participant, now)


@router.put("/me/device", response_model=DeviceOut)
def register_device(
    data: DeviceIn, participant: CurrentParticipant, session: SessionDep, now: NowDep
) -> DeviceOut:
    """Register or refresh this phone's push identifier."""
    device = participant_flow.register_device(
        session, participant, data.token, data.kind, data.platform, now
    )
    return DeviceOut(
        platform=device.platform,
        kind=device.identifier_kind,
        active=device.active,
        last_seen_at=device.last_seen_at,
    )


@router.delete("/me/device", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
def remove_device(participant: CurrentParticipant, session: SessionDep) -> Response:
    service.remove_device(session, participant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
