"""A study's questionnaire, rule set, skill library, safety settings and events, and what
staff see of a participant's check-ins, scores and deliveries."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import (
    CareStudy,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadStudy,
    SessionDep,
    staff_actor,
)
from app.checkins import service
from app.checkins.models import CheckIn, Detection, Questionnaire, RuleSetVersion
from app.checkins.questionnaire import ItemPack
from app.checkins.schemas import (
    AcknowledgeIn,
    CheckInRecord,
    DeliveryOut,
    DryRunIn,
    DryRunOut,
    ForkIn,
    LibraryOut,
    LibraryUpdate,
    PersonalizationIn,
    PersonalizationOut,
    PinIn,
    QuestionnaireIn,
    QuestionnaireOut,
    RuleSetOut,
    SafetyConfig,
    SafetyEventOut,
    ScoresOut,
)
from app.errors import Invalid
from app.pagination import Page, PageDep, map_page
from app.rules.schema import RuleSet
from app.safety import service as safety
from app.skills import service as skills
from app.skills.models import Delivery, SkillLibrary
from app.studies import participants
from app.studies.access import StudyAccess

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])


def _questionnaire_out(saved: Questionnaire) -> QuestionnaireOut:
    return QuestionnaireOut(
        version=saved.version,
        frozen=saved.frozen_at is not None,
        items=service.items_of(saved),
        packs=saved.packs,
        created_at=saved.created_at,
    )


@router.get("/questionnaire", response_model=QuestionnaireOut)
def read_questionnaire(access: ReadStudy, session: SessionDep) -> QuestionnaireOut:
    return _questionnaire_out(service.current_questionnaire(session, access.study.id))


@router.put("/questionnaire", response_model=QuestionnaireOut)
def save_questionnaire(
    data: QuestionnaireIn, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> QuestionnaireOut:
    """Edit the draft; once the study is active this saves a new version."""
    saved = service.save_questionnaire(
        session, access.study, staff_actor(user), data.items, None, now
    )
    return _questionnaire_out(saved)


@router.post("/questionnaire/packs", response_model=QuestionnaireOut)
def load_item_pack(
    pack: ItemPack, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> QuestionnaireOut:
    """Add a validated instrument's items, recording its source and licence."""
    return _questionnaire_out(
        service.load_pack(session, access.study, staff_actor(user), pack, now)
    )


@router.get("/questionnaire/versions", response_model=Page[QuestionnaireOut])
def questionnaire_versions(
    access: ReadStudy, session: SessionDep, page: PageDep
) -> Page[QuestionnaireOut]:
    """Every version, newest first."""
    versions = service.questionnaire_version_page(session, access.study.id, page)
    return map_page(versions, _questionnaire_out)


def _rule_set_out(saved: RuleSetVersion) -> RuleSetOut:
    return RuleSetOut(
        version=saved.version,
        rule_set=RuleSet.model_validate(saved.body),
        created_at=saved.created_at,
    )


@router.get("/rules", response_model=RuleSetOut)
def read_rule_set(access: ReadStudy, session: SessionDep) -> RuleSetOut:
    return _rule_set_out(service.current_rule_set(session, access.study.id)[0])


@router.put("/rules", response_model=RuleSetOut)
def save_rule_set(
    data: RuleSet, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> RuleSetOut:
    """Save a new version; check-ins from now on are judged by it and record it."""
    saved = service.save_rule_set(session, access.study, staff_actor(user), user.id, data, now)
    return _rule_set_out(saved)


@router.get("/rules/versions", response_model=Page[RuleSetOut])
def rule_set_versions(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[RuleSetOut]:
    """Every version, newest first."""
    return map_page(service.rule_set_version_page(session, access.study.id, page), _rule_set_out)


@router.post("/rules/dry-run", response_model=DryRunOut)
def dry_run(data: DryRunIn, access: CareStudy, session: SessionDep) -> DryRunOut:
    """Explain the decision on sample answers: scores, fired rules, target, candidates with
    probabilities. With a participant, their history and arm are used. Nothing is stored."""
    participant = (
        None
        if data.participant_id is None
        else participants.get_participant(session, access, data.participant_id)
    )
    if participant is not None and not access.sees_arms:
        raise Invalid("body.participant_id", "your role may not see this participant's arm")
    result = service.dry_run(session, access.study, participant, data.policy, data.answers)
    return DryRunOut.model_validate(result)


def _library_out(library: SkillLibrary, pinned: SkillLibrary | None) -> LibraryOut:
    return LibraryOut(
        id=library.id,
        version=library.version,
        name=library.name,
        published=library.published_at is not None,
        pinned=pinned is not None and pinned.id == library.id,
        forked_from=library.forked_from,
        skills=skills.skills_of(library),
        created_at=library.created_at,
        published_at=library.published_at,
    )


@router.get("/libraries", response_model=Page[LibraryOut])
def list_libraries(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[LibraryOut]:
    """Every version of the study's skill library, newest first."""
    pinned = skills.pinned_library(session, access.study.id)
    libraries = skills.library_page(session, access.study.id, page)
    return map_page(libraries, lambda library: _library_out(library, pinned))


@router.post("/libraries", status_code=status.HTTP_201_CREATED, response_model=LibraryOut)
def fork_library(
    data: ForkIn, access: CareStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    """A new draft, forked from a version of this study's library or from the default."""
    draft = skills.fork_library(
        session, access.study.id, staff_actor(user), user.id, data.from_library_id, data.name, now
    )
    return _library_out(draft, skills.pinned_library(session, access.study.id))


@router.get("/libraries/{library_id}", response_model=LibraryOut)
def read_library(library_id: uuid.UUID, access: ReadStudy, session: SessionDep) -> LibraryOut:
    library = skills.get_library(session, access.study.id, library_id)
    return _library_out(library, skills.pinned_library(session, access.study.id))


@router.put("/libraries/{library_id}", response_model=LibraryOut)
def update_library(
    library_id: uuid.UUID,
    data: LibraryUpdate,
    access: CareStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> LibraryOut:
    """Replace a draft's skills (a published version is immutable: 409)."""
    library = skills.get_library(session, access.study.id, library_id)
    library = skills.update_library(
        session, library, staff_actor(user), data.name, data.skills, now
    )
    return _library_out(library, skills.pinned_library(session, access.study.id))


@router.post("/libraries/{library_id}/publish", response_model=LibraryOut)
def publish_library(
    library_id: uuid.UUID, access: CareStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    library = skills.get_library(session, access.study.id, library_id)
    library = skills.publish_library(session, library, staff_actor(user), now)
    return _library_out(library, skills.pinned_library(session, access.study.id))


@router.put("/library", response_model=LibraryOut)
def pin_library(
    data: PinIn, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    """Pin a published version: deliveries from now on draw from it and record it."""
    library = skills.get_library(session, access.study.id, data.library_id)
    skills.pin_library(session, library, staff_actor(user), now)
    return _library_out(library, library)


@router.get("/safety", response_model=SafetyConfig)
def read_safety(access: ReadStudy, session: SessionDep) -> SafetyConfig:
    settings, resources = safety.safety_of(session, access.study.id)
    return SafetyConfig(settings=settings, resources=resources)


@router.put("/safety", response_model=SafetyConfig)
def save_safety(
    data: SafetyConfig, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> SafetyConfig:
    """Risk thresholds and the crisis resources shown after a positive screen, per locale."""
    safety.save_safety(
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
    events = safety.list_events(session, access.study.id, open_only, page)
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
    event = safety.acknowledge(
        session, access.study.id, event_id, staff_actor(user), user.id, data.note, now
    )
    return SafetyEventOut.model_validate(event.model_dump())


def _personalization_out(session: SessionDep, participant_id: uuid.UUID) -> PersonalizationOut:
    record = skills.personalization_record(session, participant_id)
    if record is None:
        return PersonalizationOut(
            disabled_skills=[], threshold_overrides={}, extra_skills=[], updated_at=None
        )
    return PersonalizationOut.model_validate(record.model_dump())


@router.get("/participants/{participant_id}/personalization", response_model=PersonalizationOut)
def read_personalization(
    participant_id: uuid.UUID, access: CareStudy, session: SessionDep
) -> PersonalizationOut:
    participant = participants.get_participant(session, access, participant_id)
    return _personalization_out(session, participant.id)


@router.put("/participants/{participant_id}/personalization", response_model=PersonalizationOut)
def save_personalization(
    participant_id: uuid.UUID,
    data: PersonalizationIn,
    access: CareStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> PersonalizationOut:
    """Disabled skills, threshold overrides per dimension, and skills written for this client."""
    participant = participants.get_participant(session, access, participant_id)
    skills.save_personalization(
        session,
        participant,
        staff_actor(user),
        user.id,
        data.disabled_skills,
        data.threshold_overrides,
        data.extra_skills,
        now,
    )
    return _personalization_out(session, participant.id)


def _checkin_record(row: tuple[CheckIn, Detection | None]) -> CheckInRecord:
    checkin, detection = row
    return CheckInRecord(
        **checkin.model_dump(exclude={"response", "body_digest"}),
        target=detection.target if detection else None,
        target_reason=detection.reason if detection else None,
    )


@router.get("/participants/{participant_id}/checkins", response_model=Page[CheckInRecord])
def list_checkins(
    participant_id: uuid.UUID, access: CareStudy, session: SessionDep, page: PageDep
) -> Page[CheckInRecord]:
    participant = participants.get_participant(session, access, participant_id)
    return map_page(service.list_checkins(session, participant.id, page), _checkin_record)


@router.get("/participants/{participant_id}/scores", response_model=ScoresOut)
def read_scores(
    participant_id: uuid.UUID,
    access: CareStudy,
    session: SessionDep,
    start: Annotated[date | None, Query(description="First UTC date (inclusive)")] = None,
    end: Annotated[date | None, Query(description="Last UTC date (inclusive)")] = None,
) -> ScoresOut:
    """Need per dimension and score per pole for each check-in, and daily means in the
    participant's time zone."""
    if start and end and end < start:
        raise Invalid("query.end", "end is before start")
    participant = participants.get_participant(session, access, participant_id)
    lower = None if start is None else datetime.combine(start, time(), UTC)
    upper = None if end is None else datetime.combine(end + timedelta(days=1), time(), UTC)
    raw, daily = service.score_history(session, participant, lower, upper)
    return ScoresOut.model_validate(
        {
            "timezone": participant.timezone,
            "raw": [{"at": d.at, "needs": d.needs, "scores": d.scores} for d in raw],
            "daily": daily,
        }
    )


def _delivery_out(access: StudyAccess, delivery: Delivery) -> DeliveryOut:
    # The policy, its candidates and probabilities, and why no skill was offered (say,
    # assessment_only) would reveal a concealed arm; a safety screen happens in every arm.
    hidden = not access.sees_arms
    reason = delivery.reason
    if hidden and reason is not None and reason != "safety":
        reason = "not_offered"
    return DeliveryOut(
        **delivery.model_dump(exclude={"policy", "candidates", "probabilities", "reason"}),
        policy=None if hidden else delivery.policy,
        reason=reason,
        candidates=None if hidden else delivery.candidates,
        probabilities=None if hidden else delivery.probabilities,
    )


@router.get("/participants/{participant_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    participant_id: uuid.UUID, access: CareStudy, session: SessionDep, page: PageDep
) -> Page[DeliveryOut]:
    participant = participants.get_participant(session, access, participant_id)
    return map_page(
        skills.list_deliveries(session, participant.id, page),
        lambda delivery: _delivery_out(access, delivery),
    )
