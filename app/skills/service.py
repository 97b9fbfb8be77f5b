"""Skill libraries (versioned per study), preferences, clinicians' personalization and the
deliveries decided after check-ins."""

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cachetools import LRUCache
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.models import CheckIn
from app.db import held_row, read_columns, write_fields
from app.errors import Conflict, Invalid, NotFound
from app.pagination import Page, PageParams, paginate
from app.plans.placeholders import fill
from app.rules.items import localized_text
from app.rules.process import Dimension, Pole
from app.skills.content import (
    OWN_PLAN_MODALITY,
    OWN_PLAN_SECONDS,
    OWN_PLAN_TEXTS,
    Skill,
    library_problems,
    localized,
)
from app.skills.default_library import default_library
from app.skills.models import (
    Delivery,
    PersonalizationRecord,
    PersonSkills,
    SkillLibrary,
    SkillPreferences,
    StudyLibrary,
)
from app.skills.policies import Decision, Personalization, PolicyInputs, SkillHistory
from app.skills.schemas import PreferencesIn, SkillChoiceOut, SkillView
from app.studies.models import Participant
from app.versioning import all_versions, latest_version, next_version, version_page


def skills_of(library: SkillLibrary) -> list[Skill]:
    return [Skill.model_validate(skill) for skill in library.skills]


def _dump(skills: Sequence[Skill]) -> list[dict[str, Any]]:
    return [skill.model_dump(mode="json", exclude_defaults=True) for skill in skills]


def _check(skills: Sequence[Skill], field: str) -> None:
    if problems := library_problems(skills, field):
        path, message = problems[0]
        raise Invalid(path, message)


def set_up_library(session: Session, study_id: uuid.UUID, now: datetime) -> SkillLibrary:
    """The published default ACT library, as version 1 of a new study's library, pinned."""
    library = SkillLibrary(
        study_id=study_id,
        version=1,
        name="Kairos ACT library",
        skills=_dump(default_library()),
        created_at=now,
        published_at=now,
    )
    session.add(library)
    session.flush()  # the pin refers to it, and the unit of work does not order by FK
    session.add(StudyLibrary(study_id=study_id, library_id=library.id, updated_at=now))
    return library


def list_libraries(session: Session, study_id: uuid.UUID) -> list[SkillLibrary]:
    return all_versions(session, SkillLibrary, col(SkillLibrary.study_id) == study_id)


def library_page(session: Session, study_id: uuid.UUID, page: PageParams) -> Page[SkillLibrary]:
    return version_page(session, SkillLibrary, page, col(SkillLibrary.study_id) == study_id)


def get_library(session: Session, study_id: uuid.UUID, library_id: uuid.UUID) -> SkillLibrary:
    library = session.exec(
        select(SkillLibrary).where(SkillLibrary.id == library_id, SkillLibrary.study_id == study_id)
    ).first()
    if library is None:
        raise NotFound("No such skill library version", code="library_not_found")
    return library


# A published library never changes: its skills are decoded and checked once per process.
_PUBLISHED_SKILLS: LRUCache[uuid.UUID, tuple[Skill, ...]] = LRUCache(maxsize=256)
_PUBLISHED_SKILLS_LOCK = threading.Lock()


@dataclass(frozen=True)
class PinnedSkills:
    version: int
    skills: list[Skill]


# Built once: a check-in runs it, and building a statement costs more than running it.
_PINNED = (
    select(SkillLibrary.id, SkillLibrary.version)
    .join(StudyLibrary, col(StudyLibrary.library_id) == SkillLibrary.id)
    .where(StudyLibrary.study_id == bindparam("study_id"))
)


def pinned_skills(session: Session, study_id: uuid.UUID) -> PinnedSkills | None:
    """The version and skills of the study's pinned library: only its id and version are
    read each time (a check-in's hot path), its skills by its id from the process's cache."""
    pinned = read_columns(session, _PINNED, {"study_id": study_id}).first()
    if pinned is None:
        return None
    library_id, version = pinned
    with _PUBLISHED_SKILLS_LOCK:
        skills = _PUBLISHED_SKILLS.get(library_id)
    if skills is None:
        skills = tuple(skills_of(session.get_one(SkillLibrary, library_id)))
        with _PUBLISHED_SKILLS_LOCK:
            _PUBLISHED_SKILLS[library_id] = skills
    return PinnedSkills(version=version, skills=list(skills))


def pinned_library(session: Session, study_id: uuid.UUID) -> SkillLibrary | None:
    return session.exec(
        select(SkillLibrary)
        .join(StudyLibrary, col(StudyLibrary.library_id) == SkillLibrary.id)
        .where(StudyLibrary.study_id == study_id)
    ).first()


def fork_library(
    session: Session,
    study_id: uuid.UUID,
    actor: Actor,
    user_id: uuid.UUID,
    source_id: uuid.UUID | None,
    name: str | None,
    now: datetime,
) -> SkillLibrary:
    """A new draft copying a version of this study's library, or the default library."""
    source = None if source_id is None else get_library(session, study_id, source_id)
    latest = latest_version(session, SkillLibrary, col(SkillLibrary.study_id) == study_id)
    draft = SkillLibrary(
        study_id=study_id,
        version=next_version(latest),
        name=name or (source.name if source else "Kairos ACT library"),
        skills=list(source.skills) if source else _dump(default_library()),
        forked_from=source.id if source else None,
        created_by=user_id,
        created_at=now,
    )
    session.add(draft)
    _audit(session, actor, "library.fork", draft, now, {"from": str(source_id)})
    session.flush()
    return draft


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    library: SkillLibrary,
    now: datetime,
    details: dict[str, Any],
) -> None:
    audit.record(
        session,
        actor,
        action,
        at=now,
        resource_type="skill_library",
        resource_id=library.id,
        study_id=library.study_id,
        details={"version": library.version, **details},
    )


def _require_draft(library: SkillLibrary) -> None:
    if library.published_at is not None:
        raise Conflict(
            f"Version {library.version} is published and cannot change; fork it to edit",
            code="library_published",
        )


def update_library(
    session: Session,
    library: SkillLibrary,
    actor: Actor,
    name: str | None,
    skills: Sequence[Skill],
    now: datetime,
) -> SkillLibrary:
    _require_draft(library)
    _check(skills, "body.skills")
    library.skills = _dump(skills)
    if name is not None:
        library.name = name
    session.add(library)
    _audit(session, actor, "library.update", library, now, {"skills": len(skills)})
    session.flush()
    return library


def remove_skill(
    session: Session, library: SkillLibrary, actor: Actor, key: str, now: datetime
) -> SkillLibrary:
    """A draft without one of its skills; its last skill stays (a library has at least one,
    as PUT .../libraries/{id} takes it)."""
    _require_draft(library)
    skills = skills_of(library)
    kept = [skill for skill in skills if skill.key != key]
    if len(kept) == len(skills):
        raise NotFound(f"No skill '{key}' in this version", code="skill_not_found")
    if not kept:
        raise Conflict("A library keeps at least one skill", code="library_empty")
    return update_library(session, library, actor, None, kept, now)


def publish_library(
    session: Session, library: SkillLibrary, actor: Actor, now: datetime
) -> SkillLibrary:
    _require_draft(library)
    if not library.skills:
        raise Conflict("An empty library cannot be published", code="library_empty")
    library.published_at = now
    session.add(library)
    _audit(session, actor, "library.publish", library, now, {})
    session.flush()
    return library


def pin_library(
    session: Session, library: SkillLibrary, actor: Actor, now: datetime
) -> SkillLibrary:
    if library.published_at is None:
        raise Conflict("Only a published library can be pinned", code="library_not_published")
    pin = session.get_one(StudyLibrary, library.study_id)
    pin.library_id = library.id
    pin.updated_at = now
    session.add(pin)
    _audit(session, actor, "library.pin", library, now, {})
    session.flush()
    return library


def skill_view(
    skill: Skill, locale: str | None, default_locale: str, words: Mapping[str, str]
) -> SkillView:
    """A skill as the participant reads it, in their language, its placeholders filled
    with the words of their own plan (`words`, by placeholder) or the written fallbacks."""
    text = localized(skill, locale, default_locale)
    return SkillView(
        key=skill.key,
        title=fill(text.title, words, text.fallbacks),
        steps=[fill(step, words, text.fallbacks) for step in text.steps],
        duration_seconds=skill.duration_seconds,
        modalities=skill.modalities,
        media_url=skill.media_url,
    )


def own_strategy_view(
    key: str, strategy: str, locale: str | None, default_locale: str
) -> SkillView:
    """A "from my plan" candidate as the participant reads it: their own strategy."""
    chosen = localized_text({k: k for k in OWN_PLAN_TEXTS}, locale, default_locale)
    text = OWN_PLAN_TEXTS[chosen]
    return SkillView(
        key=key,
        title=text.title,
        steps=[fill(step, {"strategy": strategy}, {}) for step in text.steps],
        duration_seconds=OWN_PLAN_SECONDS,
        modalities=[OWN_PLAN_MODALITY],
        media_url=None,
    )


# --- preferences and personalization -------------------------------------------------


def preferences_of(session: Session, participant_id: uuid.UUID) -> SkillPreferences | None:
    return session.get(SkillPreferences, participant_id)


def save_preferences(
    session: Session, participant: Participant, values: PreferencesIn, now: datetime
) -> SkillPreferences:
    record = session.get(SkillPreferences, participant.id) or SkillPreferences(
        participant_id=participant.id, updated_at=now
    )
    record.preferred_skills = sorted(values.preferred_skills)
    record.disliked_skills = sorted(values.disliked_skills)
    record.disabled_skills = sorted(values.disabled_skills)
    record.preferred_modalities = sorted(values.preferred_modalities)
    record.disliked_modalities = sorted(values.disliked_modalities)
    record.preferred_dimension = values.preferred_dimension
    record.updated_at = now
    session.add(record)
    session.flush()
    return record


def personalization_record(
    session: Session, participant_id: uuid.UUID
) -> PersonalizationRecord | None:
    return session.get(PersonalizationRecord, participant_id)


def save_personalization(
    session: Session,
    participant: Participant,
    actor: Actor,
    user_id: uuid.UUID,
    disabled: set[str],
    thresholds: dict[Dimension, float],
    extra: Sequence[Skill],
    now: datetime,
) -> PersonalizationRecord:
    _check(extra, "body.extra_skills")
    pinned = pinned_skills(session, participant.study_id)
    taken = {skill.key for skill in pinned.skills} if pinned else set()
    for index, skill in enumerate(extra):
        if skill.key in taken:
            raise Invalid(
                f"body.extra_skills[{index}].key",
                f"'{skill.key}' is a skill of the study's library; give this one its own key",
            )
    record = session.get(PersonalizationRecord, participant.id) or PersonalizationRecord(
        participant_id=participant.id,
        study_id=participant.study_id,
        updated_by=user_id,
        updated_at=now,
    )
    record.disabled_skills = sorted(disabled)
    record.threshold_overrides = {str(key): value for key, value in thresholds.items()}
    record.extra_skills = _dump(extra)
    record.updated_by, record.updated_at = user_id, now
    session.add(record)
    audit.record(
        session,
        actor,
        "participant.personalization",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"disabled": record.disabled_skills, "thresholds": record.threshold_overrides},
    )
    session.flush()
    return record


@dataclass
class PersonSettings:
    """The participant's preferences and the clinician's settings, read once for a check-in."""

    personalization: Personalization  # as the policy sees them
    preferred_dimension: Dimension | None
    threshold_overrides: dict[Dimension, float]  # the clinician's threshold per dimension


# Columns, not the two rows' objects: a check-in reads them. Absent rows read as NULLs.
_PERSON_SETTINGS = (
    sa.select(
        col(SkillPreferences.preferred_skills),
        col(SkillPreferences.disliked_skills),
        col(SkillPreferences.preferred_modalities),
        col(SkillPreferences.disliked_modalities),
        col(SkillPreferences.disabled_skills),
        col(SkillPreferences.preferred_dimension),
        col(PersonalizationRecord.disabled_skills).label("clinician_disabled"),
        col(PersonalizationRecord.extra_skills),
        col(PersonalizationRecord.threshold_overrides),
    )
    .select_from(Participant)
    .join(SkillPreferences, col(SkillPreferences.participant_id) == Participant.id, isouter=True)
    .join(
        PersonalizationRecord,
        col(PersonalizationRecord.participant_id) == Participant.id,
        isouter=True,
    )
    .where(col(Participant.id) == bindparam("participant_id"))
)


def person_settings(session: Session, participant_id: uuid.UUID) -> PersonSettings:
    """The participant's own preferences and their clinician's settings, in one query."""
    found = read_columns(session, _PERSON_SETTINGS, {"participant_id": participant_id}).one()
    personalization = Personalization(
        preferred_skills=set(found.preferred_skills or ()),
        disliked_skills=set(found.disliked_skills or ()),
        preferred_modalities=set(found.preferred_modalities or ()),
        disliked_modalities=set(found.disliked_modalities or ()),
        disabled_skills=set(found.clinician_disabled or ()),
        disabled_by_participant=set(found.disabled_skills or ()),
        extra_skills=[Skill.model_validate(skill) for skill in found.extra_skills or ()],
    )
    dimension = found.preferred_dimension
    overrides = found.threshold_overrides or {}
    return PersonSettings(
        personalization=personalization,
        preferred_dimension=None if dimension is None else Dimension(dimension),
        threshold_overrides={Dimension(key): value for key, value in overrides.items()},
    )


def offerable_skills(
    session: Session, participant: Participant, locale: str | None, default_locale: str
) -> list[SkillChoiceOut]:
    """The skills this participant may be offered, as they read them: the study's pinned
    library without what their clinician turned off, then the skills added for them. Those
    they turned off themselves stay listed, so that they can turn them on again."""
    pinned = pinned_skills(session, participant.study_id)
    settings = person_settings(session, participant.id).personalization
    candidates = [
        *(
            skill
            for skill in (pinned.skills if pinned else [])
            if skill.key not in settings.disabled_skills
        ),
        *settings.extra_skills,
    ]
    choices = []
    for skill in candidates:
        view = skill_view(skill, locale, default_locale, {})
        choices.append(
            SkillChoiceOut(
                key=skill.key,
                title=view.title,
                duration_seconds=skill.duration_seconds,
                modalities=list(skill.modalities),
                targets=[str(pole) for pole in skill.targets],
            )
        )
    return choices


# --- deliveries ------------------------------------------------------------------------


def hold_skill_history(session: Session, participant: Participant) -> PersonSkills:
    """Lock the participant's skill history (creating it with their first check-in) until
    the transaction ends: a delivery and a rating arriving together are both counted."""
    return held_row(
        session,
        PersonSkills,
        participant.id,
        participant_id=participant.id,
        study_id=participant.study_id,
        recent=[],
        ratings={},
    )


def skill_history(session: Session, participant_id: uuid.UUID) -> SkillHistory:
    """What the policy reads of the person's past deliveries: one row by key, whatever the
    length of the history."""
    record = session.get(PersonSkills, participant_id)
    return SkillHistory() if record is None else _history_of(record)


def _history_of(record: PersonSkills) -> SkillHistory:
    return SkillHistory.model_validate({"recent": record.recent, "ratings": record.ratings})


def _keep_skill_history(
    session: Session, participant_id: uuid.UUID, change: Callable[[SkillHistory], SkillHistory]
) -> None:
    record = session.get_one(PersonSkills, participant_id)
    changed = change(_history_of(record))
    ratings = changed.model_dump(mode="json")["ratings"]
    write_fields(session, record, recent=changed.recent, ratings=ratings)


def add_delivery(
    session: Session,
    checkin: CheckIn,
    decision: Decision,
    target: Pole | None,
    library_version: int | None,
    inputs: PolicyInputs | None,
    now: datetime,
) -> Delivery:
    """A decision to offer (or not) a skill after a check-in, with what the policy was
    given (none after a positive screen: no policy decided), counted into the person's
    skill history; the caller inserts it after its check-in (`insert_rows`)."""
    delivery = Delivery(
        study_id=checkin.study_id,
        participant_id=checkin.participant_id,
        checkin_id=checkin.id,
        created_at=now,
        policy=decision.policy,
        target=target,
        skill_key=decision.skill_key,
        reason=decision.reason,
        candidates=decision.candidates,
        probabilities=decision.probabilities,
        draw=decision.draw,
        seed=decision.seed,
        library_version=library_version,
        inputs={} if inputs is None else inputs.model_dump(mode="json", exclude={"history"}),
    )
    if (offered := decision.skill_key) is not None:
        # The caller holds the person's skill history (`hold_skill_history`).
        _keep_skill_history(session, checkin.participant_id, lambda kept: kept.offered(offered))
    return delivery


def add_crisis_delivery(
    session: Session, checkin: CheckIn, policy: str, seed: str, now: datetime
) -> Delivery:
    """Record that the crisis resources took the skill's place, from the bare facts only:
    this is the fallback when deciding failed after a positive screen."""
    delivery = Delivery(
        study_id=checkin.study_id,
        participant_id=checkin.participant_id,
        checkin_id=checkin.id,
        created_at=now,
        policy=policy,
        reason="safety",
        seed=seed,
    )
    session.add(delivery)
    return delivery


def list_deliveries(
    session: Session, participant_id: uuid.UUID, page: PageParams
) -> Page[Delivery]:
    query = (
        select(Delivery)
        .where(Delivery.participant_id == participant_id)
        .order_by(col(Delivery.created_at).desc(), col(Delivery.id))
    )
    return paginate(session, query, page)


# What a timeline mark needs of a delivery (with what `visibility.shown_delivery` may hide).
_MARK_FIELDS = ("created_at", "policy", "target", "skill_key", "reason", "helpfulness")


def delivery_marks(
    session: Session, participant_id: uuid.UUID, start: datetime | None
) -> list[dict[str, Any]]:
    """The participant's deliveries since `start` (None: all), oldest first, as the few
    fields a timeline marks them with: a read of those columns, not of whole rows."""
    columns = [getattr(Delivery, name) for name in _MARK_FIELDS]
    query = select(*columns).where(Delivery.participant_id == participant_id)
    if start is not None:
        query = query.where(Delivery.created_at >= start)
    rows = session.exec(query.order_by(col(Delivery.created_at)))
    return [dict(zip(_MARK_FIELDS, row, strict=True)) for row in rows]


# Built once: each feedback runs it, and building a statement costs more than running it.
_OWN_DELIVERY = select(Delivery).where(
    Delivery.id == bindparam("delivery_id"),
    Delivery.participant_id == bindparam("participant_id"),
)


def record_feedback(
    session: Session,
    participant: Participant,
    delivery_id: uuid.UUID,
    opened: bool | None,
    completed: bool | None,
    helpfulness: int | None,
    distress_after: int | None,
    now: datetime,
) -> Delivery:
    """The participant's feedback on an offered skill; helpfulness feeds the tailored policy."""
    delivery: Delivery | None = session.execute(
        _OWN_DELIVERY, {"delivery_id": delivery_id, "participant_id": participant.id}
    ).scalar()
    if delivery is None:
        raise NotFound("No such delivery", code="delivery_not_found")
    # Drawn to get no skill at a micro-randomized point, the person still says how they
    # feel: that is the outcome the comparison needs.
    if delivery.skill_key is None and not (
        delivery.reason == "not_randomized"
        and distress_after is not None
        and not (opened or completed or helpfulness is not None)
    ):
        raise Conflict("No skill was offered with this check-in", code="no_skill_offered")
    if opened and delivery.opened_at is None:
        delivery.opened_at = now
    if completed and delivery.completed_at is None:
        delivery.completed_at = now
    if helpfulness is not None:
        key, before = delivery.skill_key, delivery.helpfulness
        assert key is not None, "a rating without a skill is refused above"
        hold_skill_history(session, participant)
        _keep_skill_history(
            session, participant.id, lambda kept: kept.rated(key, before, helpfulness)
        )
        delivery.helpfulness = helpfulness
    if distress_after is not None:
        delivery.distress_after = distress_after
    delivery.feedback_at = now
    session.add(delivery)
    session.flush()
    return delivery
