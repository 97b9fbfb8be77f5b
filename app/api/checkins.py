"""What the participant's app sends (check-ins, feedback on skills, preferences) and what
staff read of a participant's check-ins and scores."""

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlmodel import Session

from app.api.deps import (
    CareParticipant,
    CurrentParticipant,
    NowDep,
    SessionDep,
    SettingsDep,
)
from app.checkins import service
from app.checkins.models import CheckIn, Detection
from app.checkins.schemas import (
    CheckInIn,
    CheckInOut,
    CheckInRecord,
    MyQuestionnaireOut,
    ScoresOut,
)
from app.errors import Invalid
from app.flows import checkins as checkin_flow
from app.pagination import Page, PageDep, map_page
from app.skills import service as skills
from app.skills.schemas import FeedbackIn, PreferencesIn, PreferencesOut, SkillChoiceOut
from app.studies.models import Study
from app.types import CalendarDate

router = APIRouter(prefix="/v1", tags=["participant app"])
staff_router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])


@router.get("/me/questionnaire", response_model=MyQuestionnaireOut)
def my_questionnaire(participant: CurrentParticipant, session: SessionDep) -> MyQuestionnaireOut:
    """The check-in to show, in the participant's language."""
    study = session.get_one(Study, participant.study_id)
    questionnaire = service.current_questionnaire(session, study.id)
    locale = participant.locale or study.default_locale
    items = service.item_views(service.items_of(questionnaire), locale, study.default_locale)
    return MyQuestionnaireOut(version=questionnaire.version, locale=locale, items=items)


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
    out, replayed = checkin_flow.take_in(
        session, participant, data, now, settings.checkin_clock_skew
    )
    if replayed:
        response.status_code = status.HTTP_200_OK
    return out


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
    checkin_flow.give_feedback(session, participant, delivery_id, data, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _preferences_out(session: Session, participant_id: uuid.UUID) -> PreferencesOut:
    record = skills.preferences_of(session, participant_id)
    return (
        PreferencesOut() if record is None else PreferencesOut.model_validate(record.model_dump())
    )


@router.get("/me/skills", response_model=list[SkillChoiceOut])
def my_skills(participant: CurrentParticipant, session: SessionDep) -> list[SkillChoiceOut]:
    """The skills you may be offered, in your language: what the preferences name."""
    study = session.get_one(Study, participant.study_id)
    return skills.offerable_skills(
        session, participant, participant.locale or study.default_locale, study.default_locale
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
    skills.save_preferences(session, participant, data, now)
    return _preferences_out(session, participant.id)


def _checkin_record(row: tuple[CheckIn, Detection | None]) -> CheckInRecord:
    checkin, detection = row
    return CheckInRecord(
        **checkin.model_dump(exclude={"response", "body_digest"}),
        target=detection.target if detection else None,
        target_reason=detection.reason if detection else None,
    )


@staff_router.get("/participants/{participant_id}/checkins", response_model=Page[CheckInRecord])
def list_checkins(
    scope: CareParticipant, session: SessionDep, page: PageDep
) -> Page[CheckInRecord]:
    return map_page(service.list_checkins(session, scope.participant.id, page), _checkin_record)


@staff_router.get("/participants/{participant_id}/scores", response_model=ScoresOut)
def read_scores(
    scope: CareParticipant,
    session: SessionDep,
    start: Annotated[CalendarDate | None, Query(description="First UTC date (inclusive)")] = None,
    end: Annotated[CalendarDate | None, Query(description="Last UTC date (inclusive)")] = None,
) -> ScoresOut:
    """Need per dimension and score per pole for each check-in, and daily means in the
    participant's time zone."""
    if start and end and end < start:
        raise Invalid("query.end", "end is before start")
    participant = scope.participant
    lower = None if start is None else datetime.combine(start, time(), UTC)
    upper = None if end is None else datetime.combine(end + timedelta(days=1), time(), UTC)
    raw, daily = service.score_history(session, participant, lower, upper)
    return ScoresOut(timezone=participant.timezone, raw=raw, daily=daily)
