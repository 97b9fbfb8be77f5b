"""Taking in a check-in, and the dry run that explains a decision without storing it.

The flow of one check-in: validate against the questionnaire → answer its prompt → store it
→ safety screen → evaluate the rule set → select a skill with the arm's policy → store the
detection, safety event and delivery → the response, which is stored with the check-in, so
a retry with the same client id gets it back unchanged. All of it is one transaction.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, SQLModel

from app import metrics
from app.access import visibility
from app.access.scope import StudyAccess, participant_in
from app.checkins import service as checkins
from app.checkins.models import CheckIn, Detection, PersonNeeds
from app.checkins.schemas import CheckInIn, CheckInOut, DryRunIn, DryRunOut
from app.db import insert_rows
from app.errors import Conflict, Forbidden, Invalid
from app.flows.plans import own_strategies
from app.mrt import service as mrt
from app.mrt.design import MrtDesign, mrt_seed, probability_for, treated, unavailable_because
from app.mrt.models import DecisionPoint
from app.plans import service as plans
from app.plans.content import PlanContent, plan_words, strategy_text
from app.rules.evaluate import Evaluation, PersonContext, evaluate, scaled_answers
from app.rules.items import Answer, Item
from app.rules.schema import RuleSet
from app.safety import service as safety
from app.safety.schemas import SafetyView
from app.safety.screen import CrisisResources, SafetyScreen, default_crisis_resources, screen
from app.scheduling import service as scheduling
from app.scheduling.planner import study_day
from app.scheduling.schedule import minute_of_day
from app.skills import service as skills
from app.skills.content import Skill
from app.skills.models import Delivery, PersonSkills
from app.skills.policies import (
    Decision,
    Personalization,
    PolicyInputs,
    SkillHistory,
    not_randomized,
    safety_decision,
    skill_pool,
    skill_seed,
)
from app.skills.policies import select as select_skill
from app.skills.schemas import DecisionOut, DeliveryView, FeedbackIn, SkillView
from app.studies.models import Arm, Participant, Study
from app.vocabulary import ParticipantStatus, Policy

_log = logging.getLogger("kairos.checkins")


@dataclass
class Judgement:
    evaluation: Evaluation
    decision: Decision
    library_version: int | None  # of the pinned library; None without one
    skills: dict[str, Skill]  # the library's and the participant's own, by key
    sequence: int  # of this check-in among the participant's evaluated ones
    inputs: PolicyInputs  # what the policy was given, recorded for replay
    plan: PlanContent  # the participant's own plan: its words fill the skill's text


def _person_context(
    session: Session, participant: Participant, settings: skills.PersonSettings
) -> tuple[PersonContext, int]:
    history = checkins.detection_history(session, participant)
    context = PersonContext(
        needs_history=history.needs_history,
        study_stats=history.study_stats,
        last_targeted=history.last_targeted,
        preferred_dimension=settings.preferred_dimension,
        threshold_overrides=settings.threshold_overrides,
    )
    return context, history.next_sequence


def judge(
    session: Session,
    study: Study,
    participant: Participant | None,
    policy: Policy,
    answers: dict[str, Answer],
    items: Sequence[Item],
    rule_set: RuleSet,
    seed: str,
) -> Judgement:
    """Evaluate and select for one check-in (also the dry run's path)."""
    plan = PlanContent()
    if participant is not None:
        settings = skills.person_settings(session, participant.id)
        context, sequence = _person_context(session, participant, settings)
        plan = plans.plan_content(session, participant.id)
        person = settings.personalization.model_copy(
            update={"own_strategies": own_strategies(plan)}
        )
        history = skills.skill_history(session, participant.id)
    else:
        context, sequence, person, history = PersonContext(), 1, Personalization(), SkillHistory()
    evaluation = evaluate(rule_set, scaled_answers(items, answers), context)
    library = skills.pinned_skills(session, study.id)
    library_skills: list[Skill] = library.skills if library else []
    decision = select_skill(policy, evaluation.target, library_skills, person, history, seed)
    by_key = {skill.key: skill for skill in skill_pool(library_skills, person)}
    inputs = PolicyInputs(
        target=evaluation.target, personalization=person, skills=history, chances="quadrature"
    )
    version = library.version if library else None
    return Judgement(evaluation, decision, version, by_key, sequence, inputs, plan)


def _digest(data: CheckInIn) -> str:
    # Left out, the version stays out of the digest: retries of check-ins stored before
    # phones sent it still match.
    omitted = None if data.questionnaire_version else {"questionnaire_version"}
    return checkins.body_digest(data.model_dump(mode="json", exclude=omitted))


def _replay(response: dict[str, Any]) -> tuple[CheckInOut, bool]:
    metrics.CHECKINS.labels("duplicate").inc()
    return CheckInOut.model_validate(response), True


def take_in(
    session: Session,
    participant: Participant,
    data: CheckInIn,
    now: datetime,
    clock_skew: timedelta,
) -> tuple[CheckInOut, bool]:
    """Store one check-in and decide; returns the response and whether it was a replay."""
    digest = _digest(data)
    # The person's check-ins are taken in one after the other: a retry racing in on another
    # connection waits here, then finds the first one stored and answers as its replay.
    held = (
        checkins.hold_person_needs(session, participant),
        skills.hold_skill_history(session, participant),
    )
    if stored := checkins.stored_response(session, participant.id, data.client_id, digest):
        return _replay(stored)
    # Pausing stops prompts, not the person: a paused participant can still check in, and
    # a risk answer then still gets the crisis resources.
    if participant.status not in (ParticipantStatus.active, ParticipantStatus.paused):
        raise Conflict(f"The participant is {participant.status}", code="participant_not_active")
    if data.answered_at > now + clock_skew:
        raise Invalid("body.answered_at", "answered_at is in the future")
    # The skew allows for a phone clock running ahead. Before enrollment the phone had no
    # questionnaire to answer, so an earlier answered_at is refused outright.
    if participant.enrolled_at is None or data.answered_at < participant.enrolled_at:
        raise Invalid("body.answered_at", "answered_at is before the participant enrolled")
    study = session.get_one(Study, participant.study_id)
    questionnaire = checkins.questionnaire_answered(session, study.id, data.questionnaire_version)
    items = questionnaire.items
    checkins.refuse_bad_answers(items, data.answers)
    late = (
        scheduling.answer_prompt(session, participant, data.prompt_id, now)
        if data.prompt_id is not None
        else False
    )
    assert participant.arm_id is not None, "an active or paused participant has an arm"
    policy, design = mrt.policy_and_design(session, participant.arm_id)
    offset = data.answered_at.utcoffset()
    checkin = CheckIn(
        study_id=study.id,
        participant_id=participant.id,
        client_id=data.client_id,
        prompt_id=data.prompt_id,
        answered_at=data.answered_at,
        answered_offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
        received_at=now,
        answers=data.answers,
        questionnaire_version=questionnaire.version,
        late=late,
        body_digest=digest,
    )

    # Nothing read from here on looks for this check-in's own rows, which _tailor inserts
    # once and complete (version and response set) instead of inserting, then updating.
    with session.no_autoflush:
        # Safety first: the event and the resources must survive anything that follows.
        settings, resources = safety.safety_of(session, study.id)
        screened = screen(items, scaled_answers(items, data.answers), settings)
        if screened.tier is not None:
            # Stored with the event before the savepoint below, whatever follows fails:
            # the unit of work inserts by the models' module paths (without relationships),
            # app.checkins before app.safety.
            session.add(checkin)
            safety.open_event(session, checkin, screened, now)
        moment = _Moment(
            study=study,
            participant=participant,
            policy=policy,
            design=design,
            checkin=checkin,
            held=held,
            seed=skill_seed(study.randomization_seed, participant.id, data.client_id),
            now=now,
            screened=screened,
            resources=resources,
        )
        if screened.tier is None:
            response, detection = _tailor(session, moment, items)
            # After a positive screen nothing more is risked; the next check-in looks again.
            plans.refresh_flag(session, participant, now, pending=detection)
            # The last write: the study's summary stays locked from here to the commit, and
            # every check-in of the study waits for it, so each holds it as briefly as it can.
            checkins.store_detection(session, detection)
        else:
            # Anything after a positive screen may fail: the check-in, the event, a delivery and
            # the crisis resources are still stored and sent. The savepoint undoes what failed.
            try:
                with session.begin_nested():
                    response, detection = _tailor(session, moment, items)
                    checkins.store_detection(session, detection)
            except Exception:
                _log.exception(
                    "tailoring failed after a positive safety screen; resources still sent"
                )
                response = _crisis_only(session, moment)
    session.flush()
    metrics.checkin_received(late)
    return response, False


@dataclass
class _Moment:
    """One stored check-in being decided, and what the safety screen found."""

    study: Study
    participant: Participant
    policy: Policy
    design: MrtDesign | None
    checkin: CheckIn
    # The person's summaries, locked for this check-in; referenced here so the session
    # (whose identity map holds objects weakly) reads each of them once.
    held: tuple[PersonNeeds, PersonSkills]
    seed: str
    now: datetime
    screened: SafetyScreen
    resources: dict[str, CrisisResources]

    def crisis(self, resources: dict[str, CrisisResources] | None = None) -> SafetyView:
        return safety.crisis_view(
            self.screened,
            self.resources if resources is None else resources,
            self.participant.locale,
            self.study.default_locale,
        )


def _tailor(
    session: Session, moment: _Moment, items: Sequence[Item]
) -> tuple[CheckInOut, Detection]:
    """Evaluate, select, store the delivery and the response; after a positive screen the
    skill gives way to the crisis resources. The detection is the caller's to store, last
    (`checkins.store_detection`)."""
    study, participant, checkin = moment.study, moment.participant, moment.checkin
    rule_version, rule_set = checkins.rule_set_in_force(session, study.id)
    judgement = judge(
        session, study, participant, moment.policy, checkin.answers, items, rule_set, moment.seed
    )
    detection = checkins.add_detection(
        session, checkin, judgement.evaluation, rule_version, judgement.sequence
    )
    positive = moment.screened.tier is not None
    decision = safety_decision(moment.policy, moment.seed) if positive else judgement.decision
    point = None
    if (design := moment.design) is not None:
        needs = {str(k): v for k, v in judgement.evaluation.needs.items()}
        mrt.outcomes_from_checkin(
            session, participant.id, checkin.answered_at, needs, checkin.answers
        )
        if checkin.prompt_id is not None or design.self_initiated:
            # Availability is judged on the policy's own choice, before any draw.
            qualifies = judgement.decision.skill_key is not None
            decision, point = _micro_randomize(session, moment, design, decision, qualifies, needs)
    delivery = skills.add_delivery(
        session,
        checkin,
        decision,
        judgement.evaluation.target,
        judgement.library_version,
        None if positive else judgement.inputs,
        moment.now,
    )
    skill = None
    if delivery.skill_key is not None:
        skill = _offered_view(judgement, delivery.skill_key, participant.locale, study)
    crisis = moment.crisis() if positive else None
    response = _response(checkin, judgement.evaluation, delivery, skill, crisis)
    # Each row after those it refers to; after a positive screen the check-in is stored
    # already (with its event), and the unit of work writes its version and response.
    rows: list[SQLModel] = [delivery] if positive else [checkin, delivery]
    if point is not None:
        point.delivery_id = delivery.id
        rows.append(point)
    insert_rows(session, *rows)
    return response, detection


def _micro_randomize(
    session: Session,
    moment: _Moment,
    design: MrtDesign,
    decision: Decision,
    qualifies: bool,
    needs: dict[str, float | None],
) -> tuple[Decision, DecisionPoint]:
    """A decision point of a micro-randomized arm: available or why not, then the draw."""
    participant, checkin = moment.participant, moment.checkin
    zone = ZoneInfo(participant.timezone)
    local = checkin.answered_at.astimezone(zone)
    enrolled = (participant.enrolled_at or checkin.answered_at).astimezone(zone).date()
    point = DecisionPoint(
        study_id=checkin.study_id,
        participant_id=participant.id,
        checkin_id=checkin.id,
        prompt_id=checkin.prompt_id,
        at=checkin.answered_at,
        study_day=study_day(enrolled, local.date()),
        local_minute=minute_of_day(local.time()),
        available=False,
        seed=mrt_seed(moment.seed),
        needs=needs,
        outcome_kind=design.outcome,
        outcome_dimension=design.outcome_dimension,
        outcome_item=design.outcome_item,
        outcome_hours=design.outcome_hours,
    )
    point.unavailable_reason = unavailable_because(
        positive_screen=moment.screened.tier is not None,
        paused=participant.status == ParticipantStatus.paused,
        qualifies=qualifies,
        minutes_since_offer=mrt.minutes_since_offer(session, participant.id, moment.now),
        design=design,
    )
    if point.unavailable_reason is None:
        point.available = True
        point.probability = probability_for(design, point.study_day, point.local_minute)
        point.treated, point.draw = treated(point.probability, point.seed)
        if not point.treated:
            decision = not_randomized(decision)
    return decision, point


def give_feedback(
    session: Session,
    participant: Participant,
    delivery_id: uuid.UUID,
    feedback: FeedbackIn,
    now: datetime,
) -> None:
    """The participant's feedback on a delivery; its distress-after rating is the proximal
    outcome of a micro-randomized decision point that is measured by it."""
    delivery = skills.record_feedback(
        session,
        participant,
        delivery_id,
        feedback.opened,
        feedback.completed,
        feedback.helpfulness,
        feedback.distress_after,
        now,
    )
    mrt.outcome_from_feedback(session, delivery)


def _offered_view(judgement: Judgement, key: str, locale: str | None, study: Study) -> SkillView:
    """The chosen skill as the participant reads it, in the words of their own plan; or a
    strategy from the plan itself."""
    if (strategy := strategy_text(judgement.plan, key)) is not None:
        return skills.own_strategy_view(key, strategy, locale, study.default_locale)
    words = plan_words(judgement.plan)
    return skills.skill_view(judgement.skills[key], locale, study.default_locale, words)


def _crisis_only(session: Session, moment: _Moment) -> CheckInOut:
    """The fallback after a positive screen: a delivery saying "safety" and the resources,
    built from nothing that could have failed in `_tailor` (its savepoint undid the rest)."""
    delivery = skills.add_crisis_delivery(
        session, moment.checkin, moment.policy, moment.seed, moment.now
    )
    try:
        crisis = moment.crisis()
    except Exception:
        _log.exception("the study's crisis resources failed; the built-in ones are sent")
        crisis = moment.crisis(default_crisis_resources())
    return _response(moment.checkin, None, delivery, None, crisis)


def _response(
    checkin: CheckIn,
    evaluation: Evaluation | None,
    delivery: Delivery,
    skill: SkillView | None,
    crisis: SafetyView | None,
) -> CheckInOut:
    """The check-in's answer; stored with it (as JSON) for the retries."""
    response = CheckInOut(
        checkin_id=checkin.id,
        late=checkin.late,
        questionnaire_version=checkin.questionnaire_version,
        rule_set_version=checkin.rule_set_version,
        scores=None if evaluation is None else {str(k): v for k, v in evaluation.scores.items()},
        needs=None if evaluation is None else {str(k): v for k, v in evaluation.needs.items()},
        target=None if evaluation is None else evaluation.target,
        target_reason=None if evaluation is None else evaluation.reason,
        delivery=DeliveryView(id=delivery.id, skill=skill, reason=delivery.reason),
        safety=crisis,
    )
    checkin.response = response.model_dump(mode="json")
    return response


def dry_run_as(session: Session, access: StudyAccess, data: DryRunIn) -> DryRunOut:
    """The dry run as the caller may ask it: with a participant of theirs (404 otherwise),
    only for a role that may see arms (403 `arm_concealed`), since it would use the arm."""
    participant = None
    if data.participant_id is not None:
        participant = participant_in(session, access, data.participant_id).participant
        if not visibility.sees_arms(access):
            raise Forbidden(
                "Your role may not see this participant's arm, which the dry run would use",
                code="arm_concealed",
            )
    return dry_run(session, access.study, participant, data.policy, data.answers)


def dry_run(
    session: Session,
    study: Study,
    participant: Participant | None,
    policy: Policy | None,
    answers: dict[str, Answer],
) -> DryRunOut:
    """What the current rule set and policy would decide on sample answers, the safety
    screen first, as in a check-in; stores nothing."""
    items = checkins.items_of(checkins.current_questionnaire(session, study.id))
    checkins.refuse_bad_answers(items, answers, partial=True)
    if participant is not None:
        if participant.arm_id is None:
            raise Conflict(
                "The participant has not enrolled yet, so has no arm to judge as; "
                "leave out participant_id to try a policy",
                code="participant_not_enrolled",
            )
        policy = session.get_one(Arm, participant.arm_id).policy
    version, rule_set = checkins.current_rule_set(session, study.id)
    who = participant.id if participant else uuid.UUID(int=0)
    seed = skill_seed(study.randomization_seed, who, "dry-run")
    policy = policy or Policy.tailored
    judgement = judge(session, study, participant, policy, answers, items, rule_set, seed)
    settings, _ = safety.safety_of(session, study.id)
    screened = screen(items, scaled_answers(items, answers), settings)
    decision = judgement.decision if screened.tier is None else safety_decision(policy, seed)
    return DryRunOut(
        **judgement.evaluation.model_dump(mode="json"),
        rule_set_version=version.version,
        safety=screened if screened.tier is not None else None,
        decision=DecisionOut.model_validate(decision.model_dump()),
    )
