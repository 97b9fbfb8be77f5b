"""Questionnaires and rule sets (versioned per study) and check-in ingestion.

The flow of one check-in: validate against the questionnaire → safety screen → evaluate
the rule set → select a skill with the arm's policy → store check-in, detection, safety
event and delivery in one transaction → the response, which is also stored, so a retry
with the same client id gets it back unchanged.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import mean, stdev
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.models import CheckIn, Detection, Questionnaire, RuleSetVersion
from app.checkins.questionnaire import (
    Item,
    ItemPack,
    check_answers,
    check_items,
    default_items,
    localized_text,
)
from app.errors import Conflict, Invalid, NotFound
from app.pagination import Page, PageParams, paginate
from app.rules.evaluate import (
    DimensionStats,
    Evaluation,
    PersonContext,
    evaluate,
    scaled_answers,
)
from app.rules.process import DIMENSION_ORDER, Dimension, Pole, dimension_of
from app.rules.schema import RuleSet, default_rule_set, rule_set_problems
from app.safety import service as safety
from app.safety.models import SafetyEvent
from app.safety.screen import (
    CrisisResources,
    SafetyScreen,
    default_crisis_resources,
    screen,
)
from app.scheduling.models import Prompt, PromptStatus
from app.skills import service as skills
from app.skills.content import Skill, localized
from app.skills.models import Delivery, SkillLibrary
from app.skills.policies import (
    Decision,
    PastDelivery,
    Personalization,
    safety_decision,
    skill_pool,
)
from app.skills.policies import select as select_skill
from app.studies.models import Arm, Participant, ParticipantStatus, Policy, Study, StudyStatus
from app.versioning import all_versions, latest_version, next_version, version_page

_log = logging.getLogger("kairos.checkins")
STUDY_STATS_WINDOW = 2000  # recent detections that give the study's values per dimension


# --- questionnaires ------------------------------------------------------------------


def items_of(questionnaire: Questionnaire) -> list[Item]:
    return [Item.model_validate(item) for item in questionnaire.items]


def _dump_items(items: Sequence[Item]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", exclude_none=True) for item in items]


def current_questionnaire(session: Session, study_id: uuid.UUID) -> Questionnaire:
    current = latest_version(session, Questionnaire, Questionnaire.study_id == study_id)
    assert current is not None, "every study gets a questionnaire when it is created"
    return current


def questionnaire_answered(
    session: Session, study_id: uuid.UUID, version: int | None
) -> Questionnaire:
    """The version the phone showed (it may have changed since), else the current one."""
    if version is None:
        return current_questionnaire(session, study_id)
    shown = session.exec(
        select(Questionnaire).where(
            Questionnaire.study_id == study_id, Questionnaire.version == version
        )
    ).first()
    if shown is None:
        raise Invalid(
            "body.questionnaire_version",
            f"{version} is not a version of this study's questionnaire",
        )
    return shown


def questionnaire_versions(session: Session, study_id: uuid.UUID) -> list[Questionnaire]:
    return all_versions(session, Questionnaire, Questionnaire.study_id == study_id)


def questionnaire_version_page(
    session: Session, study_id: uuid.UUID, page: PageParams
) -> Page[Questionnaire]:
    return version_page(session, Questionnaire, page, Questionnaire.study_id == study_id)


def setup_study(session: Session, study: Study, now: datetime) -> None:
    """A new study starts from the default check-in, rule set and library (pinned)."""
    items = default_items()
    session.add(
        Questionnaire(study_id=study.id, version=1, items=_dump_items(items), created_at=now)
    )
    session.add(
        RuleSetVersion(
            study_id=study.id,
            version=1,
            body=default_rule_set(items).model_dump(mode="json"),
            created_at=now,
        )
    )
    library = skills.create_default_library(session, study.id, now)
    session.flush()
    safety.create_tailoring(session, study.id, library.id, now)


def freeze_questionnaire(session: Session, study_id: uuid.UUID, now: datetime) -> None:
    """On activation the draft becomes a fixed version: check-ins name the one they answered."""
    questionnaire = current_questionnaire(session, study_id)
    if questionnaire.frozen_at is None:
        questionnaire.frozen_at = now
        session.add(questionnaire)


def save_questionnaire(
    session: Session,
    study: Study,
    actor: Actor,
    items: Sequence[Item],
    packs: Sequence[dict[str, Any]] | None,
    now: datetime,
) -> Questionnaire:
    """Edit the draft in place; once the study is active, save a new frozen version."""
    if study.status == StudyStatus.closed:
        raise Conflict("A closed study's questionnaire cannot change", code="study_closed")
    if problems := check_items(items):
        raise Invalid(f"body.{problems[0][0]}", problems[0][1])
    keys = {item.key for item in items}
    if problems := rule_set_problems(current_rule_set(session, study.id)[1], keys):
        path, message = problems[0]
        raise Invalid("body.items", f"the study's rule set needs it: {path}: {message}")
    current = current_questionnaire(session, study.id)
    packs = list(current.packs) if packs is None else list(packs)
    if current.frozen_at is None:
        current.items, current.packs = _dump_items(items), packs
        saved = current
    else:
        saved = Questionnaire(
            study_id=study.id,
            version=next_version(current),
            items=_dump_items(items),
            packs=packs,
            created_at=now,
            frozen_at=now,
        )
    session.add(saved)
    audit.record(
        session,
        actor,
        "questionnaire.update",
        at=now,
        resource_type="questionnaire",
        resource_id=saved.id,
        study_id=study.id,
        details={"version": saved.version, "items": sorted(keys)},
    )
    session.commit()
    session.refresh(saved)
    return saved


def load_pack(
    session: Session, study: Study, actor: Actor, pack: ItemPack, now: datetime
) -> Questionnaire:
    """Append a validated instrument's items, recording its source and licence."""
    current = current_questionnaire(session, study.id)
    items = [
        *items_of(current),
        *(item.model_copy(update={"pack": pack.name}) for item in pack.items),
    ]
    record = {"name": pack.name, "source": pack.source, "licence": pack.licence}
    return save_questionnaire(session, study, actor, items, [*current.packs, record], now)


# --- rule sets -----------------------------------------------------------------------


def current_rule_set(session: Session, study_id: uuid.UUID) -> tuple[RuleSetVersion, RuleSet]:
    saved = latest_version(session, RuleSetVersion, RuleSetVersion.study_id == study_id)
    assert saved is not None, "every study gets a rule set when it is created"
    return saved, RuleSet.model_validate(saved.body)


def rule_set_versions(session: Session, study_id: uuid.UUID) -> list[RuleSetVersion]:
    return all_versions(session, RuleSetVersion, RuleSetVersion.study_id == study_id)


def rule_set_version_page(
    session: Session, study_id: uuid.UUID, page: PageParams
) -> Page[RuleSetVersion]:
    return version_page(session, RuleSetVersion, page, RuleSetVersion.study_id == study_id)


def save_rule_set(
    session: Session,
    study: Study,
    actor: Actor,
    user_id: uuid.UUID,
    rule_set: RuleSet,
    now: datetime,
) -> RuleSetVersion:
    keys = {item.key for item in items_of(current_questionnaire(session, study.id))}
    if problems := rule_set_problems(rule_set, keys):
        path, message = problems[0]
        raise Invalid(f"body.{path}", message)
    previous, _ = current_rule_set(session, study.id)
    saved = RuleSetVersion(
        study_id=study.id,
        version=next_version(previous),
        body=rule_set.model_dump(mode="json"),
        created_by=user_id,
        created_at=now,
    )
    session.add(saved)
    audit.record(
        session,
        actor,
        "rule_set.update",
        at=now,
        resource_type="rule_set",
        resource_id=saved.id,
        study_id=study.id,
        details={"version": saved.version},
    )
    session.commit()
    session.refresh(saved)
    return saved


# --- what a participant's history says -------------------------------------------------


def person_context(session: Session, participant: Participant) -> tuple[PersonContext, int]:
    """The participant's past needs, the study's values, recency of targets and the
    clinician's thresholds; and the sequence number of the next evaluated check-in."""
    mine = session.exec(
        select(Detection)
        .where(Detection.participant_id == participant.id)
        .order_by(col(Detection.sequence))
    ).all()
    history: dict[Dimension, list[float]] = {dimension: [] for dimension in DIMENSION_ORDER}
    last_targeted: dict[Dimension, int] = {}
    for detection in mine:
        for key, value in detection.needs.items():
            if value is not None:
                history[Dimension(key)].append(float(value))
        if detection.target is not None:
            last_targeted[dimension_of(Pole(detection.target))] = detection.sequence
    recent = session.exec(
        select(Detection.needs)
        .where(Detection.study_id == participant.study_id)
        .order_by(col(Detection.at).desc())
        .limit(STUDY_STATS_WINDOW)
    ).all()
    stats: dict[Dimension, DimensionStats] = {}
    for dimension in DIMENSION_ORDER:
        values = [float(v) for needs in recent if (v := needs.get(dimension)) is not None]
        if len(values) >= 2:
            stats[dimension] = DimensionStats(
                mean=mean(values), sd=stdev(values), count=len(values)
            )
    preferences = skills.preferences_of(session, participant.id)
    record = skills.personalization_record(session, participant.id)
    context = PersonContext(
        needs_history=history,
        study_stats=stats,
        last_targeted=last_targeted,
        preferred_dimension=preferences.preferred_dimension if preferences else None,
        threshold_overrides=record.threshold_overrides if record else {},
    )
    return context, (mine[-1].sequence + 1 if mine else 1)


def past_deliveries(session: Session, participant_id: uuid.UUID) -> list[PastDelivery]:
    # Check-ins received in the same instant keep the order they were evaluated in (the
    # detection's sequence), so "the last two used" does not depend on random ids.
    rows = session.exec(
        select(Delivery.skill_key, Delivery.helpfulness)
        .join(Detection, col(Detection.checkin_id) == Delivery.checkin_id, isouter=True)
        .where(Delivery.participant_id == participant_id, col(Delivery.skill_key).is_not(None))
        .order_by(col(Delivery.created_at), col(Detection.sequence), col(Delivery.id))
    ).all()
    return [
        PastDelivery(skill_key=key, helpfulness=helpfulness, sequence=n)
        for n, (key, helpfulness) in enumerate(rows)
        if key is not None
    ]


def skill_seed(study: Study, participant_id: uuid.UUID, client_id: str) -> str:
    """Seed material of one skill decision: replaying the study reproduces it."""
    return f"{study.randomization_seed}\x1fskill\x1f{participant_id}\x1f{client_id}"


@dataclass
class Judgement:
    evaluation: Evaluation
    decision: Decision
    library: SkillLibrary | None
    skills: dict[str, Skill]  # the library's and the participant's own, by key
    sequence: int  # of this check-in among the participant's evaluated ones
    inputs: dict[str, Any]  # what the policy was given, recorded for replay


def judge(
    session: Session,
    study: Study,
    participant: Participant | None,
    policy: Policy,
    answers: dict[str, Any],
    items: Sequence[Item],
    rule_set: RuleSet,
    seed: str,
) -> Judgement:
    """Evaluate and select for one check-in (also the dry run's path)."""
    if participant is not None:
        context, sequence = person_context(session, participant)
        person = skills.personalization_for(session, participant.id)
        history = past_deliveries(session, participant.id)
    else:
        context, sequence, person, history = PersonContext(), 1, Personalization(), []
    evaluation = evaluate(rule_set, scaled_answers(items, answers), context)
    library = skills.pinned_library(session, study.id)
    library_skills: list[Skill] = skills.skills_of(library) if library else []
    decision = select_skill(policy, evaluation.target, library_skills, person, history, seed)
    by_key = {skill.key: skill for skill in skill_pool(library_skills, person)}
    inputs = {
        "target": evaluation.target,
        "personalization": person.model_dump(mode="json"),
        "history": [past.model_dump(mode="json") for past in history],
    }
    return Judgement(evaluation, decision, library, by_key, sequence, inputs)


# --- ingestion -------------------------------------------------------------------------


@dataclass
class CheckInRequest:
    client_id: str
    prompt_id: uuid.UUID | None
    answered_at: datetime
    answers: dict[str, Any]
    digest: str
    questionnaire_version: int | None = None  # the version the phone showed


def _check_answers(items: Sequence[Item], answers: dict[str, Any], partial: bool = False) -> None:
    if problems := check_answers(items, answers, partial=partial):
        raise Invalid.of([(f"body.answers.{key}", f"{key} {message}") for key, message in problems])


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _replayed(
    session: Session, participant: Participant, request: CheckInRequest
) -> CheckIn | None:
    existing = session.exec(
        select(CheckIn).where(
            CheckIn.participant_id == participant.id, CheckIn.client_id == request.client_id
        )
    ).first()
    if existing is not None and existing.body_digest != request.digest:
        raise Conflict(
            "This client id was already used for a different check-in", code="client_id_reused"
        )
    return existing


def _answer_prompt(
    session: Session, participant: Participant, prompt_id: uuid.UUID, now: datetime
) -> bool:
    """Close the prompt the check-in answers (its reminders stop); True when it came late."""
    prompt = session.exec(
        select(Prompt)
        .where(Prompt.id == prompt_id, Prompt.participant_id == participant.id)
        .with_for_update()
    ).first()
    if prompt is None or prompt.scheduled_at > now:
        raise NotFound("No such prompt", code="prompt_not_found")
    if prompt.status == PromptStatus.answered:
        raise Conflict("This prompt was already answered", code="prompt_answered")
    if prompt.expires_at <= now or prompt.status in (PromptStatus.expired, PromptStatus.failed):
        return True
    prompt.status, prompt.answered_at, prompt.next_push_at = PromptStatus.answered, now, None
    session.add(prompt)
    return False


def ingest(
    session: Session,
    participant: Participant,
    request: CheckInRequest,
    now: datetime,
    clock_skew: timedelta,
) -> tuple[CheckIn, bool]:
    """Store one check-in and decide; returns it and whether it was a replay."""
    if (existing := _replayed(session, participant, request)) is not None:
        return existing, True
    # Pausing stops prompts, not the person: a paused participant can still check in, and
    # a risk answer then still gets the crisis resources.
    if participant.status not in (ParticipantStatus.active, ParticipantStatus.paused):
        raise Conflict(f"The participant is {participant.status}", code="participant_not_active")
    if request.answered_at > now + clock_skew:
        raise Invalid("body.answered_at", "answered_at is in the future")
    # The skew allows for a phone clock running ahead. Before enrollment the phone had no
    # questionnaire to answer, so an earlier answered_at is refused outright.
    if participant.enrolled_at is None or request.answered_at < participant.enrolled_at:
        raise Invalid("body.answered_at", "answered_at is before the participant enrolled")
    study = session.get_one(Study, participant.study_id)
    questionnaire = questionnaire_answered(session, study.id, request.questionnaire_version)
    items = items_of(questionnaire)
    _check_answers(items, request.answers)
    late = (
        _answer_prompt(session, participant, request.prompt_id, now)
        if request.prompt_id is not None
        else False
    )
    arm = session.get_one(Arm, participant.arm_id)
    offset = request.answered_at.utcoffset()
    checkin = CheckIn(
        study_id=study.id,
        participant_id=participant.id,
        client_id=request.client_id,
        prompt_id=request.prompt_id,
        answered_at=request.answered_at,
        answered_offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
        received_at=now,
        answers=request.answers,
        questionnaire_version=questionnaire.version,
        late=late,
        body_digest=request.digest,
    )
    session.add(checkin)
    try:
        session.flush()
    except IntegrityError:
        return _stored_by_a_concurrent_request(session, participant, request)

    # Safety first: the event and the resources must survive anything that follows.
    settings, resources = safety.safety_of(session, study.id)
    screened = screen(items, scaled_answers(items, request.answers), settings)
    event = None
    if screened.tier is not None:
        event = SafetyEvent(
            study_id=study.id,
            participant_id=participant.id,
            checkin_id=checkin.id,
            tier=screened.tier,
            items=screened.items,
            created_at=now,
        )
        session.add(event)
        session.flush()
    moment = _Moment(
        study=study,
        participant=participant,
        policy=arm.policy,
        checkin=checkin,
        seed=skill_seed(study, participant.id, request.client_id),
        now=now,
        screened=screened,
        resources=resources,
    )
    if event is None:
        _tailor(session, moment, items)
    else:
        # Anything after a positive screen may fail: the check-in, the event, a delivery and
        # the crisis resources are still stored and sent.
        try:
            with session.begin_nested():
                _tailor(session, moment, items)
        except Exception:
            _log.exception("tailoring failed after a positive safety screen; resources still sent")
            _crisis_only(session, moment)
    try:
        session.commit()
    except IntegrityError:
        return _stored_by_a_concurrent_request(session, participant, request)
    session.refresh(checkin)
    return checkin, False


def _stored_by_a_concurrent_request(
    session: Session, participant: Participant, request: CheckInRequest
) -> tuple[CheckIn, bool]:
    """The same client id raced in on another connection and won: answer as its replay."""
    session.rollback()
    existing = _replayed(session, participant, request)
    if existing is None:
        raise Conflict("The check-in could not be stored; retry", code="checkin_busy")
    return existing, True


@dataclass
class _Moment:
    """One stored check-in being decided, and what the safety screen found."""

    study: Study
    participant: Participant
    policy: Policy
    checkin: CheckIn
    seed: str
    now: datetime
    screened: SafetyScreen
    resources: dict[str, CrisisResources]

    def crisis(self, resources: dict[str, CrisisResources] | None = None) -> dict[str, Any]:
        chosen = safety.crisis_resources_for(
            self.resources if resources is None else resources,
            self.participant.locale,
            self.study.default_locale,
        )
        return {"tier": self.screened.tier, "resources": chosen.model_dump()}


def _tailor(session: Session, moment: _Moment, items: Sequence[Item]) -> None:
    """Evaluate, select, store the detection and delivery and set the response; after a
    positive screen the skill gives way to the crisis resources."""
    study, participant, checkin, seed = (
        moment.study,
        moment.participant,
        moment.checkin,
        moment.seed,
    )
    rule_version, rule_set = current_rule_set(session, study.id)
    judgement = judge(
        session, study, participant, moment.policy, checkin.answers, items, rule_set, seed
    )
    checkin.rule_set_version = rule_version.version
    session.add(_detection(checkin, judgement.evaluation, rule_version.version, judgement.sequence))
    positive = moment.screened.tier is not None
    decision = safety_decision(moment.policy, seed) if positive else judgement.decision
    delivery = Delivery(
        study_id=study.id,
        participant_id=participant.id,
        checkin_id=checkin.id,
        created_at=moment.now,
        policy=decision.policy,
        target=judgement.evaluation.target,
        skill_key=decision.skill_key,
        reason=decision.reason,
        candidates=decision.candidates,
        probabilities=decision.probabilities,
        draw=decision.draw,
        seed=seed,
        library_version=judgement.library.version if judgement.library else None,
        inputs={} if positive else judgement.inputs,
    )
    skill = None
    if delivery.skill_key is not None:
        chosen = judgement.skills[delivery.skill_key]
        skill = skill_view(chosen, participant.locale, study.default_locale)
    crisis = moment.crisis() if positive else None
    checkin.response = _response(checkin, judgement.evaluation, delivery, skill, crisis)
    session.add_all([delivery, checkin])
    session.flush()


def _crisis_only(session: Session, moment: _Moment) -> None:
    """The fallback after a positive screen: a delivery saying "safety" and the resources,
    built from nothing that could have failed in `_tailor` (its savepoint undid the rest)."""
    delivery = Delivery(
        study_id=moment.study.id,
        participant_id=moment.participant.id,
        checkin_id=moment.checkin.id,
        created_at=moment.now,
        policy=moment.policy,
        reason="safety",
        seed=moment.seed,
    )
    try:
        crisis = moment.crisis()
    except Exception:
        _log.exception("the study's crisis resources failed; the built-in ones are sent")
        crisis = moment.crisis(default_crisis_resources())
    moment.checkin.response = _response(moment.checkin, None, delivery, None, crisis)
    session.add_all([delivery, moment.checkin])


def _detection(checkin: CheckIn, evaluation: Evaluation, version: int, sequence: int) -> Detection:
    dumped = evaluation.model_dump(mode="json")
    return Detection(
        checkin_id=checkin.id,
        study_id=checkin.study_id,
        participant_id=checkin.participant_id,
        sequence=sequence,
        at=checkin.received_at,
        rule_set_version=version,
        scores=dumped["scores"],
        needs=dumped["needs"],
        z=dumped["z"],
        fired=dumped["fired"],
        qualifying=dumped["qualifying"],
        target=dumped["target"],
        reason=dumped["reason"],
        distress=evaluation.distress,
    )


def skill_view(skill: Skill, locale: str | None, default_locale: str) -> dict[str, Any]:
    text = localized(skill, locale, default_locale)
    return {
        "key": skill.key,
        "title": text.title,
        "steps": text.steps,
        "duration_seconds": skill.duration_seconds,
        "modalities": skill.modalities,
        "media_url": skill.media_url,
    }


def _response(
    checkin: CheckIn,
    evaluation: Evaluation | None,
    delivery: Delivery,
    skill: dict[str, Any] | None,
    crisis: dict[str, Any] | None,
) -> dict[str, Any]:
    dumped = evaluation.model_dump(mode="json") if evaluation else None
    return {
        "checkin_id": str(checkin.id),
        "late": checkin.late,
        "questionnaire_version": checkin.questionnaire_version,
        "rule_set_version": checkin.rule_set_version,
        "scores": dumped["scores"] if dumped else None,
        "needs": dumped["needs"] if dumped else None,
        "target": dumped["target"] if dumped else None,
        "target_reason": dumped["reason"] if dumped else None,
        "delivery": {"id": str(delivery.id), "skill": skill, "reason": delivery.reason},
        "safety": crisis,
    }


# --- what staff and the phone read ----------------------------------------------------


def item_views(items: Sequence[Item], locale: str | None, default_locale: str) -> list[dict]:
    """Items as the phone shows them, in the participant's language."""

    def text(texts: dict[str, str]) -> str:
        return localized_text(texts, locale, default_locale)

    views = []
    for item in items:
        anchors = None
        if item.anchors:
            key = localized_text({k: k for k in item.anchors}, locale, default_locale)
            anchors = item.anchors[key]
        views.append(
            {
                "key": item.key,
                "type": item.type,
                "text": text(item.text),
                "min": item.range[0] if item.range else None,
                "max": item.range[1] if item.range else None,
                "choices": [{"key": c.key, "label": text(c.label)} for c in item.choices]
                if item.choices
                else None,
                "anchors": anchors,
                "required": item.required,
            }
        )
    return views


def list_checkins(
    session: Session, participant_id: uuid.UUID, page: PageParams
) -> Page[tuple[CheckIn, Detection | None]]:
    query = (
        select(CheckIn, Detection)
        .join(Detection, col(Detection.checkin_id) == CheckIn.id, isouter=True)
        .where(CheckIn.participant_id == participant_id)
        .order_by(col(CheckIn.answered_at).desc(), col(CheckIn.id))
    )
    return paginate(session, query, page)


def score_history(
    session: Session, participant: Participant, start: datetime | None, end: datetime | None
) -> tuple[list[Detection], list[dict[str, Any]]]:
    """Each evaluated check-in's needs and scores, and the daily means in the person's zone."""
    query = select(Detection).where(Detection.participant_id == participant.id)
    if start is not None:
        query = query.where(Detection.at >= start)
    if end is not None:
        query = query.where(Detection.at < end)
    detections = list(session.exec(query.order_by(col(Detection.at))))
    zone = ZoneInfo(participant.timezone)
    by_day: dict[date, list[Detection]] = {}
    for detection in detections:
        by_day.setdefault(detection.at.astimezone(zone).date(), []).append(detection)
    daily = []
    for day, rows in sorted(by_day.items()):
        needs: dict[str, float | None] = {}
        for dimension in DIMENSION_ORDER:
            values = [row.needs[dimension] for row in rows if row.needs.get(dimension) is not None]
            needs[dimension] = round(mean(values), 2) if values else None
        daily.append({"local_date": day, "check_ins": len(rows), "needs": needs})
    return detections, daily


def dry_run(
    session: Session,
    study: Study,
    participant: Participant | None,
    policy: Policy | None,
    answers: dict[str, Any],
) -> dict[str, Any]:
    """What the current rule set and policy would decide on sample answers, the safety
    screen first, as in a check-in; stores nothing."""
    items = items_of(current_questionnaire(session, study.id))
    _check_answers(items, answers, partial=True)
    if participant is not None:
        policy = session.get_one(Arm, participant.arm_id).policy
    version, rule_set = current_rule_set(session, study.id)
    seed = skill_seed(study, participant.id if participant else uuid.UUID(int=0), "dry-run")
    policy = policy or Policy.tailored
    judgement = judge(session, study, participant, policy, answers, items, rule_set, seed)
    settings, _ = safety.safety_of(session, study.id)
    screened = screen(items, scaled_answers(items, answers), settings)
    decision = judgement.decision if screened.tier is None else safety_decision(policy, seed)
    return {
        **judgement.evaluation.model_dump(mode="json"),
        "rule_set_version": version.version,
        "safety": screened.model_dump() if screened.tier is not None else None,
        "decision": decision.model_dump(mode="json"),
    }
