from fastapi import APIRouter, status

from app.api.deps import (
    CareParticipant,
    CurrentStaff,
    ManageParticipant,
    ManageStudy,
    NowDep,
    ReadParticipant,
    ReadStudy,
    SenderDep,
    SessionDep,
    SettingsDep,
    staff_actor,
)
from app.flows import participants as participant_flow
from app.pagination import Page, PageDep, map_page
from app.scheduling import dispatch
from app.scheduling.schemas import PushTestOut
from app.studies import participants as service
from app.studies.schemas import (
    AllocationOut,
    EnrollmentCodeOut,
    ErasureIn,
    ParticipantCreate,
    ParticipantCreated,
    ParticipantOut,
    ParticipantUpdate,
    StatusChange,
)
from app.vocabulary import ParticipantStatus

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["participants"])


@router.post(
    "/participants", status_code=status.HTTP_201_CREATED, response_model=ParticipantCreated
)
def create_participant(
    data: ParticipantCreate,
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> ParticipantCreated:
    """Create a pseudonymous participant; the response shows a one-time enrollment code."""
    participant, code = service.create_participant(
        session, access, staff_actor(user), data, settings.enrollment_code_hours, now
    )
    out = service.participant_out(access, participant, None)
    return ParticipantCreated(**out.model_dump(), enrollment=code)


@router.get("/participants", response_model=Page[ParticipantOut])
def list_participants(
    access: ReadStudy, session: SessionDep, page: PageDep, status: ParticipantStatus | None = None
) -> Page[ParticipantOut]:
    rows = service.list_participants(session, access, page, status)
    return rows.with_items(service.participant_outs(session, access, rows.items))


@router.get("/participants/{participant_id}", response_model=ParticipantOut)
def read_participant(scope: ReadParticipant, session: SessionDep) -> ParticipantOut:
    return service.participant_outs(session, scope.access, [scope.participant])[0]


@router.patch("/participants/{participant_id}", response_model=ParticipantOut)
def update_participant(
    data: ParticipantUpdate,
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> ParticipantOut:
    """Change a participant's time zone, locale or external reference."""
    participant_flow.update_participant(
        session, staff_actor(user), scope.participant, data, now, settings.plan_horizon
    )
    return service.participant_outs(session, scope.access, [scope.participant])[0]


@router.post("/participants/{participant_id}/status", response_model=ParticipantOut)
def change_status(
    data: StatusChange,
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> ParticipantOut:
    """Pause, resume, withdraw or complete; withdrawal revokes the participant's tokens."""
    participant_flow.change_status(
        session, staff_actor(user), scope.participant, data, now, settings.plan_horizon
    )
    return service.participant_outs(session, scope.access, [scope.participant])[0]


@router.post(
    "/participants/{participant_id}/enrollment-code",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentCodeOut,
)
def reissue_enrollment_code(
    scope: ManageParticipant,
    session: SessionDep,
    user: CurrentStaff,
    settings: SettingsDep,
    now: NowDep,
) -> EnrollmentCodeOut:
    """A fresh one-time code for an invited participant; earlier codes stop working."""
    return service.reissue_code(
        session,
        scope.access,
        staff_actor(user),
        scope.participant,
        settings.enrollment_code_hours,
        now,
    )


@router.get("/allocations", response_model=Page[AllocationOut])
def list_allocations(
    access: ManageStudy, session: SessionDep, page: PageDep
) -> Page[AllocationOut]:
    """The allocation sequence as drawn, for audit and replay (owners and researchers)."""
    return map_page(service.list_allocations(session, access, page), AllocationOut.model_validate)


@router.post("/participants/{participant_id}/erase", response_model=ParticipantOut)
def erase_participant(
    data: ErasureIn,
    scope: ManageParticipant,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> ParticipantOut:
    """Erase the person's data from every table; the row stays as a tombstone (idempotent).

    The allocation stays as the trial record; the person is withdrawn if still taking part.
    """
    participant_flow.erase(session, staff_actor(user), scope.participant, data.pseudonym, now)
    return service.participant_outs(session, scope.access, [scope.participant])[0]


@router.post(
    "/participants/{participant_id}/test-push",
    response_model=PushTestOut,
)
def send_test_push(
    scope: CareParticipant,
    session: SessionDep,
    sender: SenderDep,
    user: CurrentStaff,
    now: NowDep,
) -> PushTestOut:
    """Send one notification now to the participant's active device, through the real push
    sender, to check the Firebase set-up. It is recorded as a push attempt of kind `test`
    (never a prompt, never in compliance) and audited; the answer says what FCM said."""
    return dispatch.send_test_push(
        session,
        sender,
        scope.participant,
        staff_actor(user),
        "api",
        now,
    )
