"""The export registry: every exportable table is one declarative spec.

A spec names a model with a `participant_id` column (or the participant table itself),
the columns to export with what the codebook says about them, the timestamp the
date-range filter applies to, and the row order. Rows are scoped to the study through the
participant (and the model's own `study_id` when it has one). Participants appear by
pseudonym only: internal ids, device identifiers, external references and contact data
are never columns. Adding a table later is one more entry in TABLES.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_args

from sqlalchemy import ColumnElement, String, case, literal, null
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import SQLModel, col

from app.push.base import Outcome, PushKind
from app.scheduling.models import Prompt, PromptAttempt, PromptStatus
from app.studies.models import Allocation, Arm, Participant, ParticipantStatus, Policy, Study


class ColumnType(StrEnum):
    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"
    timestamp = "timestamp"  # UTC instant, ISO 8601
    time = "time"  # local time of day, HH:MM:SS
    json = "json"  # a JSON document (list or object)


class utc_text(FunctionElement[str]):
    """A UTC timestamp rendered as ISO 8601 text by the database itself
    ('2026-03-02T09:00:00.000000Z'): text formats then never parse and re-format it."""

    type = String()
    name = "utc_text"
    inherit_cache = True


@compiles(utc_text, "postgresql")
def _utc_text_postgresql(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"""to_char(({value}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


@compiles(utc_text, "sqlite")
def _utc_text_sqlite(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime stores naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite.
    return f"(replace({compiler.process(element.clauses, **kw)}, ' ', 'T') || 'Z')"


def bool_text(value: Any) -> Any:
    """A boolean rendered as 'true' or 'false' (NULL stays NULL) by the database."""
    return case((value.is_(None), null()), (value, literal("true")), else_=literal("false"))


# How the database renders a column type as text, for formats that are text anyway.
TEXT_RENDERERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.timestamp: utc_text,
    ColumnType.boolean: bool_text,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    meaning: str
    expr: Any  # a SQL expression over the spec's model, Participant or Arm
    unit: str | None = None  # unit or range, for the codebook
    values: tuple[str, ...] = ()  # the allowed values of a categorical column
    reveals_date: bool = False  # left out when dates are relative


@dataclass(frozen=True)
class StudyContext:
    """What a study's specs and codebook are generated from."""

    study: Study
    arms: Sequence[Arm]


@dataclass(frozen=True)
class TableSpec:
    name: str
    meaning: str
    model: type[SQLModel]
    time_attr: str  # the timestamp the date-range filter applies to
    columns: Callable[[StudyContext], list[Column]]
    order_by: tuple[str, ...] = field(default=("id",))
    # Further tables the columns read from: (model, ON clause), joined inner.
    joins: tuple[tuple[type[SQLModel], Any], ...] = ()

    def time_column(self) -> ColumnElement[Any]:
        return col(getattr(self.model, self.time_attr))

    def ordering(self) -> list[ColumnElement[Any]]:
        return [col(getattr(self.model, name)) for name in self.order_by]


def _timestamp(model: type[SQLModel], attr: str, meaning: str, name: str | None = None) -> Column:
    expr = col(getattr(model, attr))
    return Column(name or attr, ColumnType.timestamp, meaning, expr, unit="UTC, ISO 8601")


def _who(ctx: StudyContext) -> list[Column]:
    """The leading columns of every table: whose row it is and their arm."""
    return [
        Column(
            "participant",
            ColumnType.string,
            "The participant's pseudonym in this study",
            col(Participant.pseudonym),
        ),
        Column(
            "arm",
            ColumnType.string,
            "The arm the participant was allocated to (empty before enrollment)",
            col(Arm.key),
            values=tuple(arm.key for arm in ctx.arms),
        ),
    ]


def _participant_columns(ctx: StudyContext) -> list[Column]:
    strata = [
        Column(
            f"stratum_{name}",
            ColumnType.string,
            f"The participant's value of the stratification factor '{name}'",
            col(Participant.strata)[name].as_string(),
        )
        for name in ctx.study.stratify_by
    ]
    return [
        *_who(ctx),
        Column(
            "policy",
            ColumnType.string,
            "The skill-selection policy of the participant's arm",
            col(Arm.policy),
            values=tuple(Policy),
        ),
        *strata,
        Column(
            "status",
            ColumnType.string,
            "Participation status now",
            col(Participant.status),
            values=tuple(ParticipantStatus),
        ),
        _timestamp(Participant, "created_at", "When the participant was created by staff"),
        _timestamp(Participant, "enrolled_at", "When the participant enrolled (arm allocated)"),
        _timestamp(Participant, "status_changed_at", "When the status last changed"),
        Column(
            "erased",
            ColumnType.boolean,
            "True when the person's data was erased: the row is a tombstone",
            col(Participant.erased_at).is_not(None),
        ),
        _timestamp(Participant, "erased_at", "When the person's data was erased"),
    ]


def _allocation_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        Column(
            "stratum",
            ColumnType.string,
            "Canonical stratum key ('factor=value|…'; empty when unstratified)",
            col(Allocation.stratum),
        ),
        Column(
            "sequence_no",
            ColumnType.integer,
            "0-based position of this allocation in its stratum",
            col(Allocation.sequence_no),
            unit="0 or more",
        ),
        Column(
            "block_no",
            ColumnType.integer,
            "0-based permuted block within the stratum",
            col(Allocation.block_no),
            unit="0 or more",
        ),
        Column(
            "block_size",
            ColumnType.integer,
            "Size of the permuted block",
            col(Allocation.block_size),
            unit="2 or more",
        ),
        Column(
            "allocated_arm",
            ColumnType.string,
            "The arm drawn for this slot",
            col(Allocation.arm_key),
            values=tuple(arm.key for arm in ctx.arms),
        ),
        _timestamp(Allocation, "at", "When the allocation was drawn", name="allocated_at"),
        Column(
            "seed",
            ColumnType.string,
            "The study's recorded randomization seed: with stratum, sequence_no, block_size and "
            "the arms' weights it replays the draw (app/studies/randomization.py)",
            literal(ctx.study.randomization_seed),
        ),
    ]


def _prompt_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        Column(
            "slot",
            ColumnType.string,
            "The schedule slot; unique per participant, identifies the prompt "
            "(holds the local date, so it is left out with relative dates)",
            col(Prompt.slot),
            reveals_date=True,
        ),
        _timestamp(Prompt, "scheduled_at", "When the prompt was planned to be sent"),
        _timestamp(Prompt, "window_start", "Start of the prompt's answer window"),
        _timestamp(Prompt, "window_end", "End of the prompt's answer window"),
        _timestamp(Prompt, "expires_at", "When an unanswered prompt expires"),
        Column(
            "status",
            ColumnType.string,
            "What happened to the prompt",
            col(Prompt.status),
            values=tuple(PromptStatus),
        ),
        Column(
            "attempts",
            ColumnType.integer,
            "Push attempts made",
            col(Prompt.attempts),
            unit="0 or more",
        ),
        Column(
            "reminders_sent",
            ColumnType.integer,
            "Reminders pushed for the prompt",
            col(Prompt.reminders_sent),
            unit="0 or more",
        ),
        _timestamp(Prompt, "created_at", "When the prompt was planned"),
        _timestamp(Prompt, "sent_at", "When the push was accepted by the push service"),
        _timestamp(Prompt, "opened_at", "When the participant opened the prompt"),
        _timestamp(Prompt, "answered_at", "When the prompt was answered"),
        Column(
            "status_reason",
            ColumnType.string,
            "Why the prompt failed or was canceled",
            col(Prompt.status_reason),
        ),
    ]


def _attempt_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        Column(
            "slot",
            ColumnType.string,
            "The slot of the prompt pushed (left out with relative dates: it holds the date)",
            col(Prompt.slot),
            reveals_date=True,
        ),
        Column(
            "kind",
            ColumnType.string,
            "The prompt's first push or a reminder",
            col(PromptAttempt.kind),
            values=get_args(PushKind),
        ),
        _timestamp(PromptAttempt, "at", "When the push was attempted", name="attempted_at"),
        Column(
            "outcome",
            ColumnType.string,
            "What the push service answered",
            col(PromptAttempt.outcome),
            values=get_args(Outcome),
        ),
        Column(
            "error_code",
            ColumnType.string,
            "The push service's error code, when it failed",
            col(PromptAttempt.error_code),
        ),
    ]


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            name="participants",
            meaning="One row per participant (erased people stay as tombstones)",
            model=Participant,
            time_attr="created_at",
            columns=_participant_columns,
            order_by=("created_at", "id"),
        ),
        TableSpec(
            name="allocations",
            meaning="The trial record: one row per arm allocation, replayable from the seed",
            model=Allocation,
            time_attr="at",
            columns=_allocation_columns,
            order_by=("stratum", "sequence_no"),
        ),
        TableSpec(
            name="prompts",
            meaning="Every planned decision point (push prompt) with its status and attempts",
            model=Prompt,
            time_attr="scheduled_at",
            columns=_prompt_columns,
            order_by=("scheduled_at", "id"),
        ),
        TableSpec(
            name="prompt_attempts",
            meaning="Every push attempt for a prompt or its reminders (the delivery record)",
            model=PromptAttempt,
            time_attr="at",
            columns=_attempt_columns,
            order_by=("at", "id"),
            joins=((Prompt, col(Prompt.id) == col(PromptAttempt.prompt_id)),),
        ),
    )
}


def source_columns(spec: TableSpec, ctx: StudyContext, relative: bool) -> list[Column]:
    """The columns read from the database: with relative dates, none that reveals a date."""
    return [c for c in spec.columns(ctx) if not (relative and c.reveals_date)]


def output_columns(spec: TableSpec, ctx: StudyContext, relative: bool) -> list[Column]:
    """The columns a file has: with relative dates, each timestamp becomes a study day and a
    local time of day."""
    columns = source_columns(spec, ctx, relative)
    if not relative:
        return columns
    out: list[Column] = []
    for column in columns:
        if column.type != ColumnType.timestamp:
            out.append(column)
            continue
        stem = column.name.removesuffix("_at")
        out.append(
            Column(
                f"{stem}_day",
                ColumnType.integer,
                f"{column.meaning}: study day (day 1 is the participant's local calendar day "
                "of enrollment, or of creation when never enrolled)",
                None,
                unit="day number; 0 or less before day 1",
            )
        )
        out.append(
            Column(
                f"{stem}_time",
                ColumnType.time,
                f"{column.meaning}: local time of day in the participant's time zone",
                None,
                unit="HH:MM:SS local time",
            )
        )
    return out
