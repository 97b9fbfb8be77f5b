"""Questionnaires and rule sets (versioned per study), check-ins and their detections.

Taking in a check-in crosses domains (the safety screen, the skill decision, the prompt it
answers): `app.flows.checkins` sequences it; this module does the check-in domain's part.
"""

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from cachetools import LRUCache, cached
from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.models import (
    CheckIn,
    Detection,
    PersonNeeds,
    Questionnaire,
    RuleSetVersion,
    StudyNeeds,
)
from app.checkins.schemas import ChoiceView, DailyNeeds, ItemPackRecord, ItemView, ScorePoint
from app.db import held_row, insert_rows, read_columns, write_fields
from app.errors import Conflict, Invalid, NotFound
from app.pagination import Page, PageParams, paginate
from app.rules.evaluate import DimensionStats, Evaluation, NeedHistory
from app.rules.items import (
    Item,
    ItemPack,
    check_answers,
    check_items,
    default_items,
    localized_text,
)
from app.rules.packs import built_in_packs
from app.rules.process import DIMENSION_ORDER, Dimension, Pole, dimension_of
from app.rules.running import RunningSums
from app.rules.schema import RuleSet, default_rule_set, rule_set_problems
from app.studies.models import Participant, Study
from app.versioning import all_versions, latest_version, next_version, version_page
from app.vocabulary import StudyStatus

STUDY_STATS_WINDOW = 2000  # recent detections that give the study's values per dimension


# --- questionnaires ------------------------------------------------------------------


def items_of(questionnaire: Questionnaire) -> list[Item]:
    return [Item.model_validate(item) for item in questionnaire.items]


def _dump_items(items: Sequence[Item]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", exclude_none=True) for item in items]


def current_questionnaire(session: Session, study_id: uuid.UUID) -> Questionnaire:
    current = latest_version(session, Questionnaire, col(Questionnaire.study_id) == study_id)
    assert current is not None, "every study gets a questionnaire when it is created"
    return current


# A check-in's reads are statements built once (building one costs more than running it),
# and what they read of a version that no longer changes is decoded once per process.
_QUESTIONNAIRE_COLUMNS = (Questionnaire.id, Questionnaire.version, col(Questionnaire.frozen_at))
_CURRENT_QUESTIONNAIRE = (
    select(*_QUESTIONNAIRE_COLUMNS)
    .where(Questionnaire.study_id == bindparam("study_id"))
    .order_by(col(Questionnaire.version).desc())
    .limit(1)
)
_QUESTIONNAIRE_VERSION = select(*_QUESTIONNAIRE_COLUMNS).where(
    Questionnaire.study_id == bindparam("study_id"),
    Questionnaire.version == bindparam("version"),
)
_QUESTIONNAIRE_ITEMS = select(Questionnaire.items).where(Questionnaire.id == bindparam("id"))


def _read_items(session: Session, questionnaire_id: uuid.UUID) -> tuple[Item, ...]:
    found = read_columns(session, _QUESTIONNAIRE_ITEMS, {"id": questionnaire_id}).scalar_one()
    return tuple(Item.model_validate(item) for item in found)


_frozen_items = cached(
    LRUCache[uuid.UUID, tuple[Item, ...]](maxsize=256),
    key=lambda _session, questionnaire_id: questionnaire_id,
    lock=threading.Lock(),
)(_read_items)


@dataclass(frozen=True)
class AnsweredQuestionnaire:
    version: int
    items: tuple[Item, ...]


def questionnaire_answered(
    session: Session, study_id: uuid.UUID, version: int | None
) -> AnsweredQuestionnaire:
    """The version the phone showed (it may have changed since), else the current one."""
    if version is None:
        found = read_columns(session, _CURRENT_QUESTIONNAIRE, {"study_id": study_id}).one()
    else:
        shown = read_columns(
            session, _QUESTIONNAIRE_VERSION, {"study_id": study_id, "version": version}
        ).first()
        if shown is None:
            raise Invalid(
                "body.questionnaire_version",
                f"{version} is not a version of this study's questionnaire",
            )
        found = shown
    questionnaire_id, number, frozen_at = found
    # A draft is edited in place: only a frozen version is kept decoded.
    read = _read_items if frozen_at is None else _frozen_items
    return AnsweredQuestionnaire(version=number, items=read(session, questionnaire_id))


def questionnaire_versions(session: Session, study_id: uuid.UUID) -> list[Questionnaire]:
    return all_versions(session, Questionnaire, col(Questionnaire.study_id) == study_id)


def questionnaire_version_page(
    session: Session, study_id: uuid.UUID, page: PageParams
) -> Page[Questionnaire]:
    return version_page(session, Questionnaire, page, col(Questionnaire.study_id) == study_id)


def set_up_checkin(session: Session, study: Study, now: datetime) -> None:
    """A new study starts from the default check-in and its default rule set."""
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
    packs: Sequence[ItemPackRecord] | None,
    now: datetime,
    field_of: Callable[[str], str] = lambda path: f"body.{path}",
) -> Questionnaire:
    """Edit the draft in place; once the study is active, save a new frozen version. An
    item's problem is named by `field_of` its path among `items` (the request's field)."""
    if study.status == StudyStatus.closed:
        raise Conflict("A closed study's questionnaire cannot change", code="study_closed")
    if problems := check_items(items):
        raise Invalid(field_of(problems[0][0]), problems[0][1])
    keys = {item.key for item in items}
    if problems := rule_set_problems(current_rule_set(session, study.id)[1], keys):
        path, message = problems[0]
        raise Invalid("body.items", f"the study's rule set needs it: {path}: {message}")
    current = current_questionnaire(session, study.id)
    kept = list(current.packs) if packs is None else [pack.model_dump() for pack in packs]
    if current.frozen_at is None:
        current.items, current.packs = _dump_items(items), kept
        saved = current
    else:
        saved = Questionnaire(
            study_id=study.id,
            version=next_version(current),
            items=_dump_items(items),
            packs=kept,
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
    session.flush()
    return saved


def load_pack(
    session: Session,
    study: Study,
    actor: Actor,
    pack: ItemPack,
    now: datetime,
    items_path: str = "body.items",
) -> Questionnaire:
    """Append a validated instrument's items, recording its source and licence. A problem
    of one of its items names it in the document sent (`items_path`[index within the pack]),
    not by its place in the questionnaire it joins."""
    current = current_questionnaire(session, study.id)
    existing = items_of(current)
    items = [*existing, *(item.model_copy(update={"pack": pack.name}) for item in pack.items)]

    def field_of(path: str) -> str:
        found = re.match(r"items\[(\d+)\](.*)", path)
        if found is None or int(found[1]) < len(existing):
            return f"body.{path}"
        return f"{items_path}[{int(found[1]) - len(existing)}]{found[2]}"

    record = ItemPackRecord(name=pack.name, source=pack.source, licence=pack.licence)
    packs = [*(ItemPackRecord.model_validate(p) for p in current.packs), record]
    return save_questionnaire(session, study, actor, items, packs, now, field_of)


def load_built_in_pack(
    session: Session,
    study: Study,
    actor: Actor,
    user_id: uuid.UUID,
    name: str,
    with_rules: bool,
    now: datetime,
) -> Questionnaire:
    """Append a built-in pack's items; with its rules, put them before the study's own in a
    new rule-set version (the first rule that fires scores a pole)."""
    built_in = built_in_packs().get(name)
    if built_in is None:
        raise NotFound(f"No built-in item pack '{name}'", code="pack_not_found")
    saved = load_pack(session, study, actor, built_in.pack, now)
    if with_rules:
        if not built_in.rules:
            raise Invalid("body.rules", f"The pack '{name}' has no rules")
        _, current = current_rule_set(session, study.id)
        try:
            combined = RuleSet(rules=[*built_in.rules, *current.rules], selection=current.selection)
        except ValidationError as error:
            raise Invalid("body.rules", error.errors()[0]["msg"]) from None
        save_rule_set(session, study, actor, user_id, combined, now)
    return saved


def item_views(items: Sequence[Item], locale: str | None, default_locale: str) -> list[ItemView]:
    """Items as the phone shows them, in the participant's language."""

    def text(texts: Mapping[str, str]) -> str:
        return localized_text(texts, locale, default_locale)

    views = []
    for item in items:
        anchors = None
        if item.anchors:
            key = localized_text({k: k for k in item.anchors}, locale, default_locale)
            anchors = item.anchors[key]
        views.append(
            ItemView(
                key=item.key,
                type=item.type,
                text=text(item.text),
                min=item.range[0] if item.range else None,
                max=item.range[1] if item.range else None,
                choices=[ChoiceView(key=c.key, label=text(c.label)) for c in item.choices]
                if item.choices
                else None,
                anchors=anchors,
                required=item.required,
            )
        )
    return views


def refuse_bad_answers(
    items: Sequence[Item], answers: Mapping[str, Any], partial: bool = False
) -> None:
    """422 naming every answer the questionnaire does not take."""
    if problems := check_answers(items, answers, partial=partial):
        raise Invalid.of([(f"body.answers.{key}", f"{key} {message}") for key, message in problems])


# --- rule sets -----------------------------------------------------------------------


_RULE_SET_IN_FORCE = (
    select(RuleSetVersion.id, RuleSetVersion.version)
    .where(RuleSetVersion.study_id == bindparam("study_id"))
    .order_by(col(RuleSetVersion.version).desc())
    .limit(1)
)
_RULE_SET_BODY = select(RuleSetVersion.body).where(RuleSetVersion.id == bindparam("id"))


@cached(
    LRUCache[uuid.UUID, RuleSet](maxsize=256),
    key=lambda _session, rule_set_id: rule_set_id,
    lock=threading.Lock(),
)
def _rule_set_body(session: Session, rule_set_id: uuid.UUID) -> RuleSet:
    # A saved version never changes: a change is a new version.
    body = read_columns(session, _RULE_SET_BODY, {"id": rule_set_id}).scalar_one()
    return RuleSet.model_validate(body)


def rule_set_in_force(session: Session, study_id: uuid.UUID) -> tuple[int, RuleSet]:
    """The current version's number and rules (a check-in's path)."""
    rule_set_id, version = read_columns(session, _RULE_SET_IN_FORCE, {"study_id": study_id}).one()
    return version, _rule_set_body(session, rule_set_id)


def current_rule_set(session: Session, study_id: uuid.UUID) -> tuple[RuleSetVersion, RuleSet]:
    saved = latest_version(session, RuleSetVersion, col(RuleSetVersion.study_id) == study_id)
    assert saved is not None, "every study gets a rule set when it is created"
    return saved, RuleSet.model_validate(saved.body)


def rule_set_versions(session: Session, study_id: uuid.UUID) -> list[RuleSetVersion]:
    return all_versions(session, RuleSetVersion, col(RuleSetVersion.study_id) == study_id)


def rule_set_version_page(
    session: Session, study_id: uuid.UUID, page: PageParams
) -> Page[RuleSetVersion]:
    return version_page(session, RuleSetVersion, page, col(RuleSetVersion.study_id) == study_id)


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
    session.flush()
    return saved


# --- check-ins and detections ---------------------------------------------------------


def body_digest(body: Mapping[str, Any]) -> str:
    """What makes two check-ins with one client id the same check-in."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


_STORED_CHECKIN = select(CheckIn.body_digest, CheckIn.response).where(
    CheckIn.participant_id == bindparam("participant_id"),
    CheckIn.client_id == bindparam("client_id"),
)


def stored_response(
    session: Session, participant_id: uuid.UUID, client_id: str, digest: str
) -> dict[str, Any] | None:
    """The response of the check-in already stored under this client id (a retry), if
    any; 409 when the id was used for a different check-in."""
    existing = read_columns(
        session, _STORED_CHECKIN, {"participant_id": participant_id, "client_id": client_id}
    ).first()
    if existing is None:
        return None
    stored_digest, response = existing
    if stored_digest != digest:
        raise Conflict(
            "This client id was already used for a different check-in", code="client_id_reused"
        )
    stored: dict[str, Any] = response
    return stored


@dataclass
class DetectionHistory:
    """What earlier detections say about the person and the study."""

    needs_history: dict[Dimension, NeedHistory]
    study_stats: dict[Dimension, DimensionStats]
    last_targeted: dict[Dimension, int]
    next_sequence: int  # of the next evaluated check-in


def _sums(stored: Mapping[str, Any]) -> dict[Dimension, RunningSums]:
    return {Dimension(key): RunningSums.load(value) for key, value in stored.items()}


def _dump_sums(sums: Mapping[Dimension, RunningSums]) -> dict[str, Any]:
    return {str(dimension): value.dump() for dimension, value in sums.items()}


def _needs_of(needs: Mapping[str, Any]) -> Iterator[tuple[Dimension, float]]:
    return ((Dimension(key), float(value)) for key, value in needs.items() if value is not None)


def _add_needs(sums: dict[Dimension, RunningSums], needs: Mapping[str, Any]) -> None:
    for dimension, need in _needs_of(needs):
        sums[dimension] = sums.get(dimension, RunningSums()).add(need)


def hold_person_needs(session: Session, participant: Participant) -> PersonNeeds:
    """Lock the participant's summary (creating it with their first check-in) until the
    transaction ends: their check-ins are summed up one after the other."""
    return held_row(
        session,
        PersonNeeds,
        participant.id,
        participant_id=participant.id,
        study_id=participant.study_id,
        last_sequence=0,
        sums={},
        last_targeted={},
    )


# Read, not held: the study's summary is locked only from its detection's count to the
# commit.
_STUDY_SUMS = select(StudyNeeds.sums).where(StudyNeeds.study_id == bindparam("study_id"))


def detection_history(session: Session, participant: Participant) -> DetectionHistory:
    """The participant's past needs and targets, and the study's values per dimension, as
    their summaries keep them (two reads by key, whatever the length of the history)."""
    person = session.get(PersonNeeds, participant.id)
    study_sums = read_columns(session, _STUDY_SUMS, {"study_id": participant.study_id}).scalar()
    stats = {
        dimension: DimensionStats(mean=sums.mean(), sd=sums.stdev(), count=sums.count)
        for dimension, sums in _sums(study_sums or {}).items()
        if sums.count >= 2
    }
    return DetectionHistory(
        needs_history={
            dimension: NeedHistory.of_sums(sums)
            for dimension, sums in _sums(person.sums if person else {}).items()
        },
        study_stats=stats,
        last_targeted={
            Dimension(k): v for k, v in (person.last_targeted if person else {}).items()
        },
        next_sequence=(person.last_sequence if person else 0) + 1,
    )


def _count_in_person(session: Session, person: PersonNeeds, detection: Detection) -> None:
    sums = _sums(person.sums)
    _add_needs(sums, detection.needs)
    last_targeted = person.last_targeted
    if detection.target is not None:
        dimension = dimension_of(Pole(detection.target))
        last_targeted = {**last_targeted, str(dimension): detection.sequence}
    write_fields(
        session,
        person,
        sums=_dump_sums(sums),
        last_targeted=last_targeted,
        last_sequence=detection.sequence,
    )


_OLDEST_IN_WINDOW = (
    select(Detection.study_sequence, Detection.needs)
    .where(
        Detection.study_id == bindparam("study_id"),
        Detection.study_sequence >= bindparam("from"),
    )
    .order_by(col(Detection.study_sequence))
    .limit(1)
)


def _count_in_study(session: Session, detection: Detection) -> None:
    """Give the detection the study's next sequence and move the window of the study's
    latest detections on by it; the study's summary stays locked until the commit."""
    study = held_row(
        session,
        StudyNeeds,
        detection.study_id,
        study_id=detection.study_id,
        last_sequence=0,
        window_size=0,
        oldest_sequence=1,
        sums={},
    )
    detection.study_sequence = study.last_sequence + 1
    sums = _sums(study.sums)
    _add_needs(sums, detection.needs)
    oldest = detection.study_sequence if study.window_size == 0 else study.oldest_sequence
    window_size = study.window_size + 1
    if window_size > STUDY_STATS_WINDOW:
        oldest_sequence, oldest_needs = read_columns(
            session, _OLDEST_IN_WINDOW, {"study_id": detection.study_id, "from": oldest}
        ).one()
        for dimension, need in _needs_of(oldest_needs):
            sums[dimension] = sums[dimension].remove(need)
        window_size -= 1
        oldest = oldest_sequence + 1
    write_fields(
        session,
        study,
        sums=_dump_sums(sums),
        window_size=window_size,
        oldest_sequence=oldest,
        last_sequence=detection.study_sequence,
    )


def recount_study_needs(session: Session, study_id: uuid.UUID) -> None:
    """Sum the study's latest detections up again from the rows (after detections were
    erased: the window then reaches further back)."""
    study = session.get(StudyNeeds, study_id, with_for_update=True, populate_existing=True)
    if study is None:
        return
    rows = session.exec(
        select(Detection.study_sequence, Detection.needs)
        .where(Detection.study_id == study_id)
        .order_by(col(Detection.study_sequence).desc())
        .limit(STUDY_STATS_WINDOW)
    ).all()
    sums: dict[Dimension, RunningSums] = {}
    for _, needs in rows:
        _add_needs(sums, needs)
    study.sums = _dump_sums(sums)
    study.window_size = len(rows)
    study.oldest_sequence = rows[-1][0] if rows else study.last_sequence + 1
    session.add(study)


def add_detection(
    session: Session, checkin: CheckIn, evaluation: Evaluation, version: int, sequence: int
) -> Detection:
    """What the rule set found in the check-in, counted into the person's summary (which
    the caller holds: `hold_person_needs`); the check-in records the version. The caller
    stores it with `store_detection`, as late as it can."""
    dumped = evaluation.model_dump(mode="json")
    checkin.rule_set_version = version
    detection = Detection(
        checkin_id=checkin.id,
        study_id=checkin.study_id,
        participant_id=checkin.participant_id,
        sequence=sequence,
        study_sequence=0,  # given by the study's summary when it is stored
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
    person = session.get_one(PersonNeeds, checkin.participant_id)
    _count_in_person(session, person, detection)
    return detection


def store_detection(session: Session, detection: Detection) -> None:
    """Count the detection into the study's summary and store it. The study's summary is
    locked from here to the commit and every check-in of the study waits for it, so a
    check-in does this as late as it can."""
    _count_in_study(session, detection)
    insert_rows(session, detection)


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
) -> tuple[list[ScorePoint], list[DailyNeeds]]:
    """Each evaluated check-in's needs and scores in [start, end) (None: unbounded), and the
    daily means in the person's zone. Reads only those columns of the detections."""
    query = select(Detection.at, Detection.needs, Detection.scores).where(
        Detection.participant_id == participant.id
    )
    if start is not None:
        query = query.where(Detection.at >= start)
    if end is not None:
        query = query.where(Detection.at < end)
    raw = [
        ScorePoint(at=at, needs=dict(needs), scores=dict(scores))
        for at, needs, scores in session.exec(query.order_by(col(Detection.at)))
    ]
    zone = ZoneInfo(participant.timezone)
    by_day: dict[date, list[ScorePoint]] = {}
    for point in raw:
        by_day.setdefault(point.at.astimezone(zone).date(), []).append(point)
    daily = []
    for day, points in sorted(by_day.items()):
        needs: dict[str, float | None] = {}
        for dimension in DIMENSION_ORDER:
            values = [v for p in points if (v := p.needs.get(dimension)) is not None]
            needs[dimension] = round(mean(values), 2) if values else None
        daily.append(DailyNeeds(local_date=day, check_ins=len(points), needs=needs))
    return raw, daily


def last_checkins(
    session: Session, participant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each of these participants last answered a check-in (absent: never)."""
    if not participant_ids:
        return {}
    rows = session.exec(
        select(col(CheckIn.participant_id), func.max(CheckIn.answered_at))
        .where(col(CheckIn.participant_id).in_(participant_ids))
        .group_by(col(CheckIn.participant_id))
    )
    return {participant_id: at for participant_id, at in rows if at is not None}
