"""Schedules, overrides and waking hours, and the prompt rows planned from them.

Prompts are materialized over a rolling horizon. `plan_prompts` (the job) only inserts the
slots that are missing, so running it twice, or on several workers, creates nothing new.
`replan_participant` is called when something a participant's plan depends on changes: it
moves or cancels future prompts that were never pushed and plans what is missing. A slot
that went out is never touched again, so no slot is ever sent twice.
"""

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import bindparam, case
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, col, func, or_, select, update

from app.audit import service as audit
from app.audit.service import Actor
from app.db import read_columns, update_row
from app.errors import Conflict, NotFound
from app.fields import new_id
from app.pagination import Page, PageParams
from app.scheduling.models import (
    UNDELIVERABLE_REASONS,
    ParticipantScheduleOverride,
    Prompt,
    PromptStatus,
    StudySchedule,
    WakingHoursRecord,
)
from app.scheduling.planner import (
    PlannedPrompt,
    PlanParticipant,
    Pushed,
    awake_at,
    fit_beside,
    plan,
    preview,
    spills_over,
    waking_hours_held_to,
)
from app.scheduling.schedule import Schedule, WakingHours
from app.scheduling.schemas import (
    ComplianceDay,
    ComplianceOut,
    ComplianceTotals,
    OverrideOut,
    OverrideVersion,
    PreviewIn,
    PreviewOut,
    PreviewPrompt,
    StudyComplianceDay,
)
from app.studies.models import Participant, Study
from app.versioning import all_versions, latest_version, next_version, version_page
from app.vocabulary import ParticipantStatus, StudyStatus

_MINUTE = timedelta(minutes=1)
_INSERT_CHUNK = 2000


def prompt_seed(randomization_seed: str, participant_id: uuid.UUID) -> str:
    """Seed material of a participant's random prompt times (from the study's seed)."""
    return f"{randomization_seed}\x1fprompts\x1f{participant_id}"


# --- schedules, overrides, waking hours ------------------------------------------------


def current_schedule(session: Session, study_id: uuid.UUID) -> StudySchedule | None:
    return latest_version(session, StudySchedule, col(StudySchedule.study_id) == study_id)


def schedule_versions(session: Session, study_id: uuid.UUID, page: PageParams) -> Page[Any]:
    """The study's schedule versions, newest first, a page at a time."""
    return version_page(session, StudySchedule, page, col(StudySchedule.study_id) == study_id)


def save_schedule(
    session: Session,
    study: Study,
    actor: Actor,
    user_id: uuid.UUID,
    schedule: Schedule,
    notification: dict[str, dict[str, str]],
    now: datetime,
    horizon: timedelta,
) -> StudySchedule:
    if study.status == StudyStatus.closed:
        raise Conflict("A closed study's schedule cannot change", code="study_closed")
    previous = current_schedule(session, study.id)
    saved = StudySchedule(
        study_id=study.id,
        version=next_version(previous),
        schedule=schedule.model_dump(mode="json"),
        notification=notification,
        created_by=user_id,
        created_at=now,
    )
    session.add(saved)
    audit.record(
        session,
        actor,
        "schedule.update",
        at=now,
        resource_type="schedule",
        resource_id=saved.id,
        study_id=study.id,
        details={"version": saved.version},
    )
    session.flush()
    if study.status == StudyStatus.active:
        for participant in _active_participants(session, study.id):
            replan_participant(session, participant, now, horizon)
    return saved


def saved_schedule(session: Session, study_id: uuid.UUID) -> StudySchedule:
    """The current schedule, or 404 `no_schedule`."""
    saved = current_schedule(session, study_id)
    if saved is None:
        raise NotFound("This study has no prompt schedule yet", code="no_schedule")
    return saved


def preview_schedule(session: Session, study: Study, data: PreviewIn) -> PreviewOut:
    """The prompts a participant in `data`'s zone with its waking hours would get: from the
    schedule given, else the study's saved one (404 `no_schedule` when there is none)."""
    schedule = data.schedule or Schedule.model_validate(saved_schedule(session, study.id).schedule)
    seed = f"{study.randomization_seed}\x1fpreview"
    planned = preview(schedule, data.timezone, data.waking_hours, data.start_date, data.days, seed)
    return PreviewOut(
        timezone=data.timezone,
        prompts=[PreviewPrompt.of(prompt, data.timezone) for prompt in planned],
    )


def current_override(
    session: Session, participant_id: uuid.UUID
) -> ParticipantScheduleOverride | None:
    where = col(ParticipantScheduleOverride.participant_id) == participant_id
    return latest_version(session, ParticipantScheduleOverride, where)


def override_versions(
    session: Session, participant_id: uuid.UUID
) -> list[ParticipantScheduleOverride]:
    where = col(ParticipantScheduleOverride.participant_id) == participant_id
    return all_versions(session, ParticipantScheduleOverride, where)


def override_out(session: Session, participant_id: uuid.UUID) -> OverrideOut:
    """The participant's override in force (None when lifted or never set) and its history."""
    history = [
        OverrideVersion.model_validate(record, from_attributes=True)
        for record in override_versions(session, participant_id)
    ]
    current = history[0] if history and history[0].schedule is not None else None
    return OverrideOut(current=current, history=history)


def set_override(
    session: Session,
    participant: Participant,
    actor: Actor,
    user_id: uuid.UUID,
    schedule: Schedule | None,
    reason: str,
    now: datetime,
    horizon: timedelta,
) -> ParticipantScheduleOverride:
    """Save a new override version; `schedule` None returns the participant to the study's."""
    previous = current_override(session, participant.id)
    if schedule is None and (previous is None or previous.schedule is None):
        raise NotFound("This participant has no schedule override", code="no_override")
    record = ParticipantScheduleOverride(
        study_id=participant.study_id,
        participant_id=participant.id,
        version=next_version(previous),
        schedule=None if schedule is None else schedule.model_dump(mode="json"),
        reason=reason,
        created_by=user_id,
        created_at=now,
    )
    session.add(record)
    audit.record(
        session,
        actor,
        "schedule_override.set" if schedule is not None else "schedule_override.lift",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"version": record.version, "reason": reason},
    )
    session.flush()
    replan_participant(session, participant, now, horizon)
    return record


def waking_hours_of(session: Session, participant_id: uuid.UUID) -> WakingHours | None:
    record = session.get(WakingHoursRecord, participant_id)
    return None if record is None else _hours(record)


def _hours(record: WakingHoursRecord) -> WakingHours:
    return WakingHours(wake=time.fromisoformat(record.wake), sleep=time.fromisoformat(record.sleep))


def waking_hours_by_participant(
    session: Session, participants: Sequence[Participant]
) -> dict[uuid.UUID, WakingHours | None]:
    """The waking hours each participant is held to: their own, else those of the schedule
    they follow (their override's or their study's), else none."""
    ids = [participant.id for participant in participants]
    own = {
        record.participant_id: _hours(record)
        for record in session.exec(
            select(WakingHoursRecord).where(col(WakingHoursRecord.participant_id).in_(ids))
        )
    }
    overrides: dict[uuid.UUID, ParticipantScheduleOverride] = {}
    for record in session.exec(
        select(ParticipantScheduleOverride)
        .where(col(ParticipantScheduleOverride.participant_id).in_(ids))
        .order_by(col(ParticipantScheduleOverride.version))
    ):
        overrides[record.participant_id] = record
    studies = {participant.study_id for participant in participants}
    schedules = {study_id: current_schedule(session, study_id) for study_id in studies}
    hours: dict[uuid.UUID, WakingHours | None] = {}
    for participant in participants:
        schedule = _effective(schedules[participant.study_id], overrides.get(participant.id))
        hours[participant.id] = waking_hours_held_to(own.get(participant.id), schedule)
    return hours


def set_waking_hours(
    session: Session,
    participant: Participant,
    actor: Actor,
    hours: WakingHours,
    now: datetime,
    horizon: timedelta,
) -> WakingHours:
    record = session.get(WakingHoursRecord, participant.id) or WakingHoursRecord(
        participant_id=participant.id, wake="", sleep="", updated_at=now
    )
    record.wake, record.sleep = f"{hours.wake:%H:%M}", f"{hours.sleep:%H:%M}"
    record.updated_at = now
    session.add(record)
    audit.record(
        session,
        actor,
        "participant.waking_hours",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"wake": record.wake, "sleep": record.sleep},
    )
    session.flush()
    replan_participant(session, participant, now, horizon)
    return hours


# --- planning ------------------------------------------------------------------------


def _active_participants(session: Session, study_id: uuid.UUID) -> list[Participant]:
    return list(
        session.exec(
            select(Participant).where(
                Participant.study_id == study_id, Participant.status == ParticipantStatus.active
            )
        )
    )


def _plan_window(
    schedule: Schedule,
    seed: str,
    timezone: str,
    enrolled_at: datetime | None,
    waking: WakingHours | None,
    start: datetime,
    end: datetime,
) -> list[PlannedPrompt]:
    """The prompts of a participant (enrolled then, in that zone) whose times fall in
    [start, end]."""
    assert enrolled_at is not None
    zone = ZoneInfo(timezone)
    who = PlanParticipant(timezone, enrolled_at.astimezone(zone).date(), waking)
    # A day before when a local date's prompts can run into the next one.
    spill = spills_over(schedule, waking_hours_held_to(waking, schedule))
    first = start.astimezone(zone).date() - timedelta(days=1 if spill else 0)
    last = end.astimezone(zone).date()
    return plan(schedule, who, first, last, seed, between=(start, end))


# A prompt row in the order of the COPY's columns (`_COPIED`).
_PromptRow = tuple[Any, ...]


def _row(
    study_id: uuid.UUID, participant_id: uuid.UUID, prompt: PlannedPrompt, now: datetime
) -> _PromptRow:
    status, reason, next_push_at = _planned_state(prompt)
    return (
        new_id(),
        study_id,
        participant_id,
        prompt.slot,
        prompt.scheduled_at,
        prompt.window_start,
        prompt.window_end,
        prompt.expires_at,
        status,
        reason,
        0,
        now,
        [_iso(at) for at in prompt.reminders],
        0,
        next_push_at,
    )


# Reminders of one zone's fixed times recur across participants; small, as _instant.
@lru_cache(maxsize=8192)
def _iso(at: datetime) -> str:
    return at.isoformat()


def _planned_state(prompt: PlannedPrompt) -> tuple[PromptStatus, str | None, datetime | None]:
    """Status, reason and first push of a freshly planned slot: a skipped decision point
    gets a row too, but nothing is ever pushed for it."""
    if prompt.skip_reason is not None:
        return PromptStatus.skipped, prompt.skip_reason, None
    return PromptStatus.planned, None, prompt.scheduled_at


def _insert_missing(session: Session, rows: Callable[[], Iterable[_PromptRow]]) -> int:
    """Insert the prompt rows `rows()` gives, skipping slots that already exist; returns how
    many were new. The rows are sent while they are made, never all held."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy_missing(session, rows)
    table = Prompt.__table__  # type: ignore[attr-defined]
    statement = sqlite.insert(table).on_conflict_do_nothing(
        index_elements=["participant_id", "slot"]
    )
    created = 0
    connection = session.connection()
    chunks = iter(rows())
    while chunk := [
        dict(zip(_COPIED, row, strict=True)) for row in itertools.islice(chunks, _INSERT_CHUNK)
    ]:
        # The driver's executemany; its rowcount is not reliable, so the new rows are
        # counted by their fresh ids.
        connection.execute(statement, chunk)
        ids = [row["id"] for row in chunk]
        created += connection.execute(
            select(func.count()).select_from(table).where(table.c.id.in_(ids))
        ).scalar_one()
    return created


_COPIED = (
    "id", "study_id", "participant_id", "slot", "scheduled_at", "window_start", "window_end",
    "expires_at", "status", "status_reason", "attempts", "created_at", "reminders",
    "reminders_sent", "next_push_at",
)  # fmt: skip
_COPIED_TYPES = (
    "uuid", "uuid", "uuid", "varchar", "timestamptz", "timestamptz", "timestamptz",
    "timestamptz", "varchar", "varchar", "int4", "timestamptz", "json", "int4", "timestamptz",
)  # fmt: skip
_COLUMNS = ", ".join(_COPIED)


def _copy_missing(session: Session, rows: Callable[[], Iterable[_PromptRow]]) -> int:
    """PostgreSQL: COPY the rows straight into the table, the server taking them in while
    the caller plans the ones that follow. The unique (participant, slot) index is the
    idempotency check: if a slot exists already (another worker planned at the same time,
    or a replan left a row the plan did not expect), the COPY is undone and the rows go
    through a temporary table instead, moved over in one INSERT … SELECT … ON CONFLICT DO
    NOTHING."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    # psycopg's transaction block is a savepoint inside the unit of work (its callers have
    # read before, so the transaction is open), and a transaction of its own on an
    # autocommit connection.
    try:
        with driver.transaction():
            return _copy(driver, "prompt", rows())
    except psycopg.errors.UniqueViolation:
        pass
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE prompt_new AS SELECT {_COLUMNS} FROM prompt WITH NO DATA"
    )
    _copy(driver, "prompt_new", rows())
    created = connection.exec_driver_sql(
        f"INSERT INTO prompt ({_COLUMNS}) SELECT {_COLUMNS} FROM prompt_new"
        " ON CONFLICT (participant_id, slot) DO NOTHING"
    ).rowcount
    connection.exec_driver_sql("DROP TABLE prompt_new")
    return created


def _copy(driver: psycopg.Connection[Any], table: str, rows: Iterable[_PromptRow]) -> int:
    # Binary: psycopg's binary dumpers cost the client a fifth of the text ones here.
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPIED_TYPES)
            for row in rows:
                copy.write_row(row)
        return cursor.rowcount


def _effective(
    study_schedule: StudySchedule | None, override: ParticipantScheduleOverride | None
) -> Schedule | None:
    if override is not None and override.schedule is not None:
        return Schedule.model_validate(override.schedule)
    if study_schedule is None:
        return None
    return Schedule.model_validate(study_schedule.schedule)


def replan_participant(
    session: Session, participant: Participant, now: datetime, horizon: timedelta
) -> None:
    """Bring a participant's future prompts in line with what they depend on now.

    Future prompts never pushed are moved to their new time or canceled when they no longer
    fit; canceled ones whose slot is wanted again come back (even from the past); missing
    slots are inserted. Anything that was pushed keeps its row as it is. `horizon`: how far
    ahead to plan (KAIROS_PLAN_HORIZON_HOURS, as the plan job).
    """
    study = session.get(Study, participant.study_id)
    assert study is not None
    existing = list(
        session.exec(
            select(Prompt).where(Prompt.participant_id == participant.id, Prompt.scheduled_at > now)
        )
    )
    schedule = _effective(
        current_schedule(session, study.id), current_override(session, participant.id)
    )
    own_hours = waking_hours_of(session, participant.id)
    wanted: dict[str, PlannedPrompt] = {}
    if (
        schedule is not None
        and study.status == StudyStatus.active
        and participant.status == ParticipantStatus.active
        and participant.enrolled_at is not None
    ):
        # Never narrower than what is already planned, so nothing is canceled only for
        # lying beyond this call's horizon.
        end = max([now + horizon, *(prompt.scheduled_at for prompt in existing)])
        planned = _plan_window(
            schedule,
            prompt_seed(study.randomization_seed, participant.id),
            participant.timezone,
            participant.enrolled_at,
            own_hours,
            now,
            end,
        )
        wanted = {
            prompt.slot: prompt
            for prompt in _beside_pushed(session, participant.id, schedule, planned)
        }
    _refit_reminders(session, participant, waking_hours_held_to(own_hours, schedule))
    # A wanted slot may already have a row that lies in the past (canceled, then moved into
    # the future by a time zone change or new random draws): that row is the slot's.
    existing += session.exec(
        select(Prompt).where(
            Prompt.participant_id == participant.id,
            Prompt.scheduled_at <= now,
            col(Prompt.slot).in_(list(wanted)),
        )
    )
    for row in existing:
        if row.sent_at is not None or row.attempts > 0 or row.status not in _MOVABLE:
            wanted.pop(row.slot, None)
            continue
        fresh = wanted.pop(row.slot, None)
        if fresh is None:
            if row.status in (PromptStatus.planned, PromptStatus.skipped):
                row.status, row.status_reason, row.next_push_at = (
                    PromptStatus.canceled,
                    "no longer in the participant's plan",
                    None,
                )
                session.add(row)
            continue
        row.scheduled_at, row.window_start, row.window_end, row.expires_at = (
            fresh.scheduled_at,
            fresh.window_start,
            fresh.window_end,
            fresh.expires_at,
        )
        row.reminders = [_iso(at) for at in fresh.reminders]
        row.status, row.status_reason, row.next_push_at = _planned_state(fresh)
        session.add(row)
    session.flush()
    missing = [_row(study.id, participant.id, prompt, now) for prompt in wanted.values()]
    _insert_missing(session, lambda: missing)


_MOVABLE = frozenset({PromptStatus.planned, PromptStatus.canceled, PromptStatus.skipped})


def _beside_pushed(
    session: Session,
    participant_id: uuid.UUID,
    schedule: Schedule,
    wanted: Iterable[PlannedPrompt],
) -> list[PlannedPrompt]:
    """The wanted prompts that fit beside what already went out on their local days (a
    schedule changed mid-day keeps the day's cap and gap). Slots that went out are kept as
    they are, so they are not counted twice."""
    # Skipped slots are never pushed: they take nothing from the day's cap or gap.
    skipped = [prompt for prompt in wanted if prompt.skip_reason is not None]
    wanted = [prompt for prompt in wanted if prompt.skip_reason is None]
    if not wanted:
        return skipped
    days = {prompt.local_date for prompt in wanted}
    rows = session.exec(
        select(Prompt).where(
            Prompt.participant_id == participant_id,
            col(Prompt.sent_at).is_not(None),
            or_(*(col(Prompt.slot).startswith(f"{day}/") for day in days)),
        )
    ).all()
    pushed = [
        Pushed(
            local_date=date.fromisoformat(row.slot.split("/", 1)[0]),
            scheduled_at=row.scheduled_at,
            # A prompt still open may send the rest of its reminders.
            sends=1
            + (len(row.reminders) if row.status == PromptStatus.sent else row.reminders_sent),
        )
        for row in rows
    ]
    sent_slots = {row.slot for row in rows}
    fitted = fit_beside(
        [prompt for prompt in wanted if prompt.slot not in sent_slots],
        pushed,
        schedule.min_gap_minutes,
        schedule.max_per_day,
    )
    return [*fitted, *skipped]


def _refit_reminders(
    session: Session, participant: Participant, waking: WakingHours | None
) -> None:
    """Drop the reminders still to come of sent prompts that now fall outside the waking
    hours (after the hours or the time zone changed)."""
    if waking is None:
        return
    pending = session.exec(
        select(Prompt).where(
            Prompt.participant_id == participant.id,
            Prompt.status == PromptStatus.sent,
            col(Prompt.next_push_at).is_not(None),
        )
    )
    for row in pending:
        done, to_come = row.reminders[: row.reminders_sent], row.reminders[row.reminders_sent :]
        kept = [
            at
            for at in to_come
            if awake_at(waking, participant.timezone, datetime.fromisoformat(at))
        ]
        if kept != to_come:
            row.reminders = done + kept
            row.next_push_at = next_reminder(row.reminders, row.reminders_sent)
            session.add(row)


def plan_prompts(session: Session, now: datetime, horizon: timedelta) -> int:
    """Materialize the missing prompts of every active participant up to now + horizon.

    Overrides and waking hours are read only for the participants it plans."""
    schedules: dict[uuid.UUID, StudySchedule] = {}
    for saved in session.exec(
        select(StudySchedule)
        .join(Study, col(Study.id) == StudySchedule.study_id)
        .where(Study.status == StudyStatus.active)
        .order_by(col(StudySchedule.version))
    ):
        schedules[saved.study_id] = saved
    taking_part = (
        Study.status == StudyStatus.active,
        Participant.status == ParticipantStatus.active,
        col(Participant.enrolled_at).is_not(None),
    )
    overrides: dict[uuid.UUID, ParticipantScheduleOverride] = {}
    for record in session.exec(
        select(ParticipantScheduleOverride)
        .join(Participant, col(Participant.id) == ParticipantScheduleOverride.participant_id)
        .join(Study, col(Study.id) == Participant.study_id)
        .where(*taking_part)
        .order_by(col(ParticipantScheduleOverride.version))
    ):
        overrides[record.participant_id] = record
    overridden = [key for key, record in overrides.items() if record.schedule is not None]
    waking = {
        record.participant_id: _hours(record)
        for record in session.exec(
            select(WakingHoursRecord)
            .join(Participant, col(Participant.id) == WakingHoursRecord.participant_id)
            .join(Study, col(Study.id) == Participant.study_id)
            .where(*taking_part)
        )
    }
    parsed = {study_id: Schedule.model_validate(s.schedule) for study_id, s in schedules.items()}
    # A participant with an override is planned even where the study has no schedule.
    # Columns, not objects: a run reads every active participant.
    participants = session.exec(
        select(Participant.id, Participant.study_id, Participant.timezone, Participant.enrolled_at)
        .join(Study, col(Study.id) == Participant.study_id)
        .where(
            *taking_part,
            or_(col(Participant.study_id).in_(schedules), col(Participant.id).in_(overridden)),
        )
    ).all()
    seeds = dict(
        session.exec(
            select(Study.id, Study.randomization_seed).where(Study.status == StudyStatus.active)
        ).all()
    )
    # Everything up to a participant's latest prompt was planned by an earlier run (changes
    # go through replan_participant), so each run plans only what lies beyond it.
    planned_until = dict(
        session.exec(
            select(Prompt.participant_id, func.max(Prompt.scheduled_at))
            .where(Prompt.scheduled_at >= now)
            .group_by(col(Prompt.participant_id))
        ).all()
    )
    end = now + horizon

    def rows() -> Iterator[_PromptRow]:
        for participant_id, study_id, timezone, enrolled_at in participants:
            start = max(now, planned_until.get(participant_id, now) + _MINUTE)
            if start > end:
                continue
            override = overrides.get(participant_id)
            schedule = (
                Schedule.model_validate(override.schedule)
                if override is not None and override.schedule is not None
                else parsed[study_id]
            )
            planned = _plan_window(
                schedule,
                prompt_seed(seeds[study_id], participant_id),
                timezone,
                enrolled_at,
                waking.get(participant_id),
                start,
                end,
            )
            for prompt in planned:
                yield _row(study_id, participant_id, prompt, now)

    return _insert_missing(session, rows)


def cancel_open_prompts(
    session: Session,
    now: datetime,
    reason: str,
    *,
    participant_id: uuid.UUID | None = None,
    study_id: uuid.UUID | None = None,
) -> None:
    """Stop every push at once: planned prompts are canceled, sent ones get no reminders.

    Prompts already sent stay answerable until they expire.
    """
    scope = (
        col(Prompt.participant_id) == participant_id
        if participant_id is not None
        else col(Prompt.study_id) == study_id
    )
    session.execute(
        update(Prompt)
        .where(scope, col(Prompt.status) == PromptStatus.planned)
        .values(status=PromptStatus.canceled, status_reason=reason, next_push_at=None)
    )
    session.execute(
        update(Prompt)
        .where(scope, col(Prompt.status) == PromptStatus.sent)
        .values(next_push_at=None)
    )


def next_reminder(reminders: Sequence[str], sent: int) -> datetime | None:
    """When the reminder after the first `sent` ones is due; None when none is left."""
    return datetime.fromisoformat(reminders[sent]) if sent < len(reminders) else None


def resume_pushes(session: Session, participant_id: uuid.UUID, now: datetime) -> None:
    """A device came (back): open prompts that were held for want of one get their pushes
    back, each at the time it would have gone out (its scheduled time, or its next reminder
    once it was sent), so only what is due now goes now."""
    participant = session.get(Participant, participant_id)
    held = session.exec(
        select(Prompt).where(
            Prompt.participant_id == participant_id,
            col(Prompt.status).in_([PromptStatus.planned, PromptStatus.sent]),
            col(Prompt.next_push_at).is_(None),
            Prompt.expires_at > now,
        )
    )
    for prompt in held:
        if prompt.status == PromptStatus.planned:
            prompt.next_push_at, prompt.status_reason = prompt.scheduled_at, None
        elif participant is not None and participant.status == ParticipantStatus.active:
            # A pause also stops the reminders of sent prompts: only an active
            # participant's come back.
            prompt.next_push_at = next_reminder(prompt.reminders, prompt.reminders_sent)
        session.add(prompt)


# --- what the app sees ---------------------------------------------------------------


def open_prompts(session: Session, participant_id: uuid.UUID, now: datetime) -> list[Prompt]:
    """Prompts the participant can answer now: due, not answered, not expired."""
    return list(
        session.exec(
            select(Prompt)
            .where(
                Prompt.participant_id == participant_id,
                col(Prompt.status).in_([PromptStatus.planned, PromptStatus.sent]),
                Prompt.scheduled_at <= now,
                Prompt.expires_at > now,
            )
            .order_by(col(Prompt.scheduled_at))
        )
    )


def mark_opened(
    session: Session, participant: Participant, prompt_id: uuid.UUID, now: datetime
) -> Prompt:
    prompt = session.exec(
        select(Prompt).where(Prompt.id == prompt_id, Prompt.participant_id == participant.id)
    ).first()
    if prompt is None or prompt.scheduled_at > now:
        raise NotFound("No such prompt", code="prompt_not_found")
    if prompt.opened_at is None:
        prompt.opened_at = now
        session.add(prompt)
        session.flush()
    return prompt


# Built once: a check-in runs it, and building a statement costs more than running it.
_PROMPT_ANSWERED = (
    select(Prompt.scheduled_at, Prompt.status, Prompt.expires_at)
    .where(
        Prompt.id == bindparam("prompt_id"), Prompt.participant_id == bindparam("participant_id")
    )
    .with_for_update()
)


def answer_prompt(
    session: Session, participant: Participant, prompt_id: uuid.UUID, now: datetime
) -> bool:
    """Close the prompt a check-in answers (its reminders stop); True when it came late."""
    found = read_columns(
        session, _PROMPT_ANSWERED, {"prompt_id": prompt_id, "participant_id": participant.id}
    ).first()
    if found is None or found.scheduled_at > now:
        raise NotFound("No such prompt", code="prompt_not_found")
    if found.status == PromptStatus.answered:
        raise Conflict("This prompt was already answered", code="prompt_answered")
    if found.expires_at <= now or found.status in (PromptStatus.expired, PromptStatus.failed):
        return True
    update_row(
        session,
        Prompt,
        prompt_id,
        status=PromptStatus.answered,
        answered_at=now,
        next_push_at=None,
    )
    return False


# --- compliance ----------------------------------------------------------------------


@dataclass
class _Tally:
    """What happened to a set of prompts."""

    planned: int = 0
    due: int = 0
    sent: int = 0
    opened: int = 0
    answered: int = 0
    expired: int = 0
    failed: int = 0
    undeliverable: int = 0
    skipped: int = 0

    def add(self, other: "_Tally") -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def counts(self) -> dict[str, Any]:
        rate = round(self.answered / self.due, 4) if self.due else None
        return {**asdict(self), "compliance": rate}


def compliance(prompts: Iterable[tuple[Prompt, str, str]], now: datetime) -> ComplianceOut:
    """What happened to the prompts: per participant and local day, per local day across
    the study, and in total.

    `planned` counts every decision point that was neither canceled nor skipped; the
    compliance rate is answered over the prompts that were due (scheduled before now).
    Skipped decision points (never pushed, for example outside waking hours) are counted on
    their own and never as missed. `undeliverable` counts due prompts that never went out
    because the participant had no device to push to (none registered, or FCM answered
    that it is unregistered).
    """
    days: dict[tuple[str, date], _Tally] = {}
    for prompt, pseudonym, zone in prompts:
        if prompt.status == PromptStatus.canceled:
            continue
        local_day = prompt.scheduled_at.astimezone(ZoneInfo(zone)).date()
        day = days.setdefault((pseudonym, local_day), _Tally())
        if prompt.status == PromptStatus.skipped:
            day.skipped += 1
            continue
        day.planned += 1
        day.undeliverable += (
            prompt.sent_at is None
            and prompt.scheduled_at <= now
            and prompt.status_reason in UNDELIVERABLE_REASONS
        )
        day.due += prompt.scheduled_at <= now
        day.sent += prompt.sent_at is not None
        day.opened += prompt.opened_at is not None
        day.answered += prompt.status == PromptStatus.answered
        day.expired += prompt.status == PromptStatus.expired
        day.failed += prompt.status == PromptStatus.failed
    study_days: dict[date, _Tally] = {}
    totals = _Tally()
    for (_, local_day), day in days.items():
        study_days.setdefault(local_day, _Tally()).add(day)
        totals.add(day)
    return ComplianceOut(
        days=[
            ComplianceDay(participant=pseudonym, local_date=local_day, **day.counts())
            for (pseudonym, local_day), day in sorted(days.items())
        ],
        study_days=[
            StudyComplianceDay(local_date=local_day, **day.counts())
            for local_day, day in sorted(study_days.items())
        ],
        totals=ComplianceTotals(**totals.counts()),
    )


def study_prompts(
    session: Session,
    study_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    participant_id: uuid.UUID | None = None,
) -> list[tuple[Prompt, str, str]]:
    """The study's prompts (or one participant's) with the pseudonym and time zone."""
    query = (
        select(Prompt, Participant.pseudonym, Participant.timezone)
        .join(Participant, col(Participant.id) == Prompt.participant_id)
        .where(Prompt.study_id == study_id)
    )
    if participant_id is not None:
        query = query.where(Prompt.participant_id == participant_id)
    if start is not None:
        query = query.where(Prompt.scheduled_at >= start)
    if end is not None:
        query = query.where(Prompt.scheduled_at < end)
    return [tuple(row) for row in session.exec(query)]  # type: ignore[misc]


def recent_compliance(
    session: Session, participant_ids: Sequence[uuid.UUID], since: datetime, now: datetime
) -> dict[uuid.UUID, tuple[int, int]]:
    """(answered, due) per participant over the prompts scheduled in [since, now], counted as
    `compliance` counts them (canceled prompts and skipped decision points left out); a
    participant with none due is absent."""
    if not participant_ids:
        return {}
    answered = func.sum(case((col(Prompt.status) == PromptStatus.answered, 1), else_=0))
    rows = session.exec(
        select(col(Prompt.participant_id), answered, func.count())
        .where(
            col(Prompt.participant_id).in_(participant_ids),
            col(Prompt.scheduled_at) >= since,
            col(Prompt.scheduled_at) <= now,
            col(Prompt.status).not_in([PromptStatus.canceled, PromptStatus.skipped]),
        )
        .group_by(col(Prompt.participant_id))
    )
    return {participant_id: (int(done or 0), int(due)) for participant_id, done, due in rows}
