"""What the participant's app sends: check-ins, feedback on skills, preferences."""

import uuid

from fastapi import APIRouter, Response, status

from app.api.deps import CurrentParticipant, NowDep, SessionDep, SettingsDep
from app.checkins import service
from app.checkins.schemas import (
    CheckInIn,
    CheckInOut,
    FeedbackIn,
    MyQuestionnaireOut,
    PreferencesIn,
    PreferencesOut,
)
from app.skills import service as skills
from app.studies.models import Study

router = APIRouter(prefix="/v1", tags=["participant app"])


@router.get("/me/questionnaire", response_model=MyQuestionnaireOut)
def my_questionnaire(participant: CurrentParticipant, session: SessionDep) -> MyQuestionnaireOut:
    """The check-in to show, in the participant's language."""
    study = session.get_one(Study, participant.study_id)
    questionnaire = service.current_questionnaire(session, study.id)
    locale = participant.locale or study.default_locale
    items = service.item_views(service.items_of(questionnaire), locale, study.default_locale)
    return MyQuestionnaireOut.model_validate(
        {"version": questionnaire.version, "locale": locale, "items": items}
    )


@router.post(
    "/checkins",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckInOut,
    responses={200: {"description": "A retry of a stored check-in: its original response"}},
)
def submit_checkin(
    data: CheckInIn,
    participant: CurrentParticipant,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    response: Response,
) -> CheckInOut:
    """Store a check-in and answer, in the same response, with the detected processes and
    the skill that fits (or why none), and crisis resources after a positive risk screen."""
    request = service.CheckInRequest(
        client_id=data.client_id,
        prompt_id=data.prompt_id,
        answered_at=data.answered_at,
        answers=data.answers,
        # Left out, the version stays out of the digest: retries of check-ins stored before
        # phones sent it still match.
        digest=service.body_digest(
            data.model_dump(
                mode="json",
                exclude=None if data.questionnaire_version else {"questionnaire_version"},
            )
        ),
        questionnaire_version=data.questionnaire_version,
    )
    skew = settings.checkin_clock_skew
    checkin, replayed = service.ingest(session, participant, request, now, skew)
    if replayed:
        response.status_code = status.HTTP_200_OK
    return CheckInOut.model_validate(checkin.response)


@router.post("/deliveries/{delivery_id}/feedback", response_model=None, status_code=204)
def give_feedback(
    delivery_id: uuid.UUID,
    data: FeedbackIn,
    participant: CurrentParticipant,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Opened, completed, how helpful (0-10) and distress after (0-100): the tailored
    policy learns from helpfulness."""
    skills.record_feedback(
        session,
        participant,
        delivery_id,
        data.opened,
        data.completed,
        data.helpfulness,
        data.distress_after,
        now,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _preferences_out(session: SessionDep, participant_id: uuid.UUID) -> PreferencesOut:
    record = skills.preferences_of(session, participant_id)
    return (
        PreferencesOut() if record is None else PreferencesOut.model_validate(record.model_dump())
    )


@router.get("/me/preferences", response_model=PreferencesOut)
def read_preferences(participant: CurrentParticipant, session: SessionDep) -> PreferencesOut:
    return _preferences_out(session, participant.id)


@router.put("/me/preferences", response_model=PreferencesOut)
def save_preferences(
    data: PreferencesIn, participant: CurrentParticipant, session: SessionDep, now: NowDep
) -> PreferencesOut:
    """Skills and kinds of skill the participant likes or dislikes, and the dimension they
    most want to work on."""
    skills.save_preferences(session, participant, data.model_dump(), now)
    return _preferences_out(session, participant.id)
