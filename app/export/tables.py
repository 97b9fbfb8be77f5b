"""The export registry: every exportable table is one declarative spec.

A spec names a model with a `participant_id` column (or the participant table itself),
the columns to export with what the codebook says about them, the timestamp the
date-range filter applies to, and the row order. Rows are scoped to the study through the
participant (and the model's own `study_id` when it has one). Participants appear by
pseudonym only: internal ids, device identifiers, external references and contact data
are never columns. Adding a table later is one more entry in TABLES.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, get_args

from sqlalchemy import JSON, ColumnElement, String, Text, case, cast, func, literal, null
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import SQLModel, col

from app.checkins.models import CheckIn, Detection
from app.mrt.design import OutcomeKind, Unavailable
from app.mrt.models import DecisionPoint
from app.plans.content import PlanSection
from app.plans.models import PlanVersion
from app.push.base import Outcome, PushKind
from app.rules.items import Item, RiskTier
from app.rules.process import Pole
from app.safety.models import SafetyEvent
from app.scheduling.models import Prompt, PromptAttempt, PromptStatus
from app.skills.models import Delivery
from app.studies.models import Allocation, Arm, Participant, Study
from app.vocabulary import ParticipantStatus, Policy


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


class replay_inputs(FunctionElement[Any]):
    """A delivery's recorded policy inputs as exported: target, personalization and history,
    with each of the participant's own skills cut to what selection reads (key, targets,
    modalities): their titles and steps are written for the person and may name them."""

    type = JSON()
    name = "replay_inputs"
    inherit_cache = True


_SKILL_FIELDS = ("key", "targets", "modalities")


@compiles(replay_inputs, "postgresql")
def _replay_inputs_postgresql(element: replay_inputs, compiler: SQLCompiler, **kw: Any) -> str:
    value = f"({compiler.process(element.clauses, **kw)})::jsonb"
    fields = ", ".join(f"'{name}', skill -> '{name}'" for name in _SKILL_FIELDS)
    skills = (
        f"coalesce((SELECT jsonb_agg(jsonb_build_object({fields})) FROM jsonb_array_elements("
        f"{value} #> '{{personalization,extra_skills}}') AS skill), '[]'::jsonb)"
    )
    return (
        f"CASE WHEN {value} ? 'personalization' THEN "
        f"jsonb_set({value}, '{{personalization,extra_skills}}', {skills}) ELSE {value} END"
    )


@compiles(replay_inputs, "sqlite")
def _replay_inputs_sqlite(element: replay_inputs, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    fields = ", ".join(f"'{name}', json(skill.value -> '$.{name}')" for name in _SKILL_FIELDS)
    skills = (
        f"json((SELECT json_group_array(json_object({fields})) FROM json_each({value}, "
        "'$.personalization.extra_skills') AS skill))"
    )
    return (
        f"CASE WHEN json_type({value}, '$.personalization') IS NOT NULL THEN "
        f"json_set({value}, '$.personalization.extra_skills', {skills}) ELSE {value} END"
    )


def bool_text(value: Any) -> Any:
    """A boolean rendered as 'true' or 'false' (NULL stays NULL) by the database."""
    return case((value.is_(None), null()), (value, literal("true")), else_=literal("false"))


# What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TEXT_NOTE = (
    "In CSV files a text cell that begins with =, +, -, @, a tab or a carriage return is "
    "prefixed with a single quote (') so that a spreadsheet shows it rather than running it "
    "as a formula; NDJSON and Parquet files keep the text exactly as it was given"
)


def string_text(value: Any) -> Any:
    """A string for CSV: the empty string as NULL (CSV writes both as an empty field; COPY
    would quote an empty string, the csv module would not), and a cell a spreadsheet would
    run as a formula neutralised with a leading single quote (CSV_TEXT_NOTE)."""
    text = func.nullif(value, "")
    formula = func.substr(text, 1, 1).in_(FORMULA_STARTS)
    return case((formula, literal("'", String).concat(text)), else_=text)


def json_text(value: Any) -> Any:
    """A JSON document as the database holds its text."""
    return cast(value, Text)


# How the database renders a column type for CSV, on both CSV paths (COPY and the csv
# module), so they write the same bytes; numbers are left to each (formats.csv_number).
TEXT_RENDERERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.timestamp: utc_text,
    ColumnType.boolean: bool_text,
    ColumnType.string: string_text,
    ColumnType.json: json_text,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    meaning: str
    expr: Any  # a SQL expression over the spec's model, Participant or Arm
    unit: str | None = None  # unit or range, for the codebook
    values: tuple[str, ...] = ()  # the allowed values of a categorical column
    # Value labels, in the study's default locale: a scale's end anchors, choice labels.
    labels: dict[str, str] = field(default_factory=dict)
    reveals_date: bool = False  # left out when dates are relative
    # A timestamp's column of UTC offset minutes: with relative dates, its local time is
    # in that offset rather than in the participant's zone.
    local_offset: str | None = None


@dataclass(frozen=True)
class StudyContext:
    """What a study's specs and codebook are generated from."""

    study: Study
    arms: Sequence[Arm]
    # Every check-in item the study has asked, across questionnaire versions, in order.
    items: Sequence[Item] = ()
    # The versions in use, for the codebook: questionnaires, rule sets, skill libraries.
    versions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    name: str
    meaning: str
    model: type[SQLModel]
    time_attr: str  # the timestamp the date-range filter applies to
    columns: Callable[[StudyContext], list[Column]]
    order_by: tuple[str, ...] = field(default=("id",))
    # Further tables the columns read from: (model, ON clause), left outer joins.
    joins: tuple[tuple[type[SQLModel], Any], ...] = ()

    def time_column(self) -> ColumnElement[Any]:
        column: ColumnElement[Any] = getattr(self.model, self.time_attr)
        return column

    def ordering(self) -> list[ColumnElement[Any]]:
        return [getattr(self.model, name) for name in self.order_by]


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
            "The schedule slot; unique per participant, identifies the prompt: "
            "<local date>/fixed/<HH:MM> for a fixed time, <local date>/window/"
            "<HH:MM>-<HH:MM>/<k> for the k-th (from 0) random prompt of that window "
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
            "Why the prompt failed, was skipped or was canceled (device_unregistered: FCM "
            "answered that the device is no longer registered)",
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
            "The prompt's first push, a reminder, or a test push staff sent (no prompt)",
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


def _checkin_ref() -> Column:
    return Column(
        "checkin",
        ColumnType.string,
        "The check-in's client-generated id (links check-ins, detections, deliveries and "
        "safety events)",
        col(CheckIn.client_id),
    )


def _in_locale(texts: dict[str, Any], ctx: StudyContext) -> Any:
    return texts.get(ctx.study.default_locale) or next(iter(texts.values()))


def _item_column(item: Item, ctx: StudyContext) -> Column:
    answer = col(CheckIn.answers)[item.key]
    meaning = f"Answer to '{_in_locale(item.text, ctx)}'" + (
        f" (measures {item.pole})" if item.pole else ""
    )
    if item.risk:
        meaning += "; screened for safety"
    name = f"item_{item.key}"
    if item.type == "boolean":
        return Column(name, ColumnType.boolean, meaning, answer.as_boolean())
    if item.range is not None:
        low, high = item.range
        anchors = _in_locale(item.anchors, ctx) if item.anchors else None
        return Column(
            name,
            ColumnType.number,
            meaning,
            answer.as_float(),
            unit=f"{item.type} {low} to {high}",
            labels=dict(zip((str(low), str(high)), anchors, strict=True)) if anchors else {},
        )
    choices = item.choices or ()
    return Column(
        name,
        ColumnType.string,
        meaning,
        answer.as_string(),
        unit="free text" if item.type == "text" else None,
        values=tuple(choice.key for choice in choices),
        labels={choice.key: _in_locale(choice.label, ctx) for choice in choices},
    )


def _checkin_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        _checkin_ref(),
        Column(
            "prompt_slot",
            ColumnType.string,
            "The slot of the prompt answered; empty for a self-initiated check-in "
            "(left out with relative dates: it holds the date)",
            col(Prompt.slot),
            reveals_date=True,
        ),
        replace(
            _timestamp(CheckIn, "answered_at", "When the participant answered (phone clock)"),
            local_offset="answered_offset_minutes",
        ),
        Column(
            "answered_offset_minutes",
            ColumnType.integer,
            "The phone's UTC offset when answering",
            col(CheckIn.answered_offset_minutes),
            unit="minutes",
        ),
        _timestamp(CheckIn, "received_at", "When the server received the check-in"),
        Column(
            "late",
            ColumnType.boolean,
            "True when the prompt had expired before the answer came",
            col(CheckIn.late),
        ),
        Column(
            "questionnaire_version",
            ColumnType.integer,
            "The questionnaire version answered",
            col(CheckIn.questionnaire_version),
            unit="1 or more",
        ),
        Column(
            "rule_set_version",
            ColumnType.integer,
            "The rule-set version that judged the check-in",
            col(CheckIn.rule_set_version),
            unit="1 or more",
        ),
        *(_item_column(item, ctx) for item in ctx.items),
    ]


def _detection_columns(ctx: StudyContext) -> list[Column]:
    scores = [
        Column(
            f"score_{pole}",
            ColumnType.number,
            f"How active the process pole '{pole}' was in the check-in",
            col(Detection.scores)[str(pole)].as_float(),
            unit="rule-set score; empty when no rule scored the pole",
        )
        for pole in Pole
    ]
    return [
        *_who(ctx),
        _checkin_ref(),
        Column(
            "sequence",
            ColumnType.integer,
            "The participant's n-th evaluated check-in",
            col(Detection.sequence),
            unit="1 or more",
        ),
        _timestamp(Detection, "at", "When the check-in was evaluated", name="evaluated_at"),
        Column(
            "rule_set_version",
            ColumnType.integer,
            "The rule-set version applied",
            col(Detection.rule_set_version),
            unit="1 or more",
        ),
        *scores,
        Column(
            "target",
            ColumnType.string,
            "The process pole tailoring aimed at (empty when none qualified)",
            col(Detection.target),
            values=tuple(Pole),
        ),
        Column("reason", ColumnType.string, "Why this target", col(Detection.reason)),
        Column(
            "distress",
            ColumnType.number,
            "The distress answer used by the rules (empty when the rule set names no "
            "distress item)",
            col(Detection.distress),
            unit="0 to 100 (the answer rescaled to 0-100, as the rules compare it)",
        ),
        Column("fired", ColumnType.json, "Keys of the rules that fired", col(Detection.fired)),
        Column(
            "qualifying",
            ColumnType.json,
            "Poles above their threshold",
            col(Detection.qualifying),
        ),
    ]


def _delivery_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        _checkin_ref(),
        _timestamp(Delivery, "created_at", "When the decision was made", name="decided_at"),
        Column(
            "policy",
            ColumnType.string,
            "The selection policy that decided",
            col(Delivery.policy),
            values=tuple(Policy),
        ),
        Column("target", ColumnType.string, "The target pole", col(Delivery.target)),
        Column(
            "skill",
            ColumnType.string,
            "The skill offered (empty: none)",
            col(Delivery.skill_key),
        ),
        Column("reason", ColumnType.string, "Why no skill, when none", col(Delivery.reason)),
        Column(
            "candidates",
            ColumnType.json,
            "The skills the policy chose from",
            col(Delivery.candidates),
        ),
        Column(
            "probabilities",
            ColumnType.json,
            "Each candidate's probability of being chosen",
            col(Delivery.probabilities),
            unit="0 to 1 each, summing to 1",
        ),
        Column(
            "draw",
            ColumnType.number,
            "The uniform draw that picked the skill",
            col(Delivery.draw),
            unit="0 to 1",
        ),
        Column(
            "seed",
            ColumnType.string,
            "Seed material of the decision: with the library version and the recorded inputs "
            "it replays (`kairos replay`)",
            col(Delivery.seed),
        ),
        Column(
            "library_version",
            ColumnType.integer,
            "The skill-library version used (its skills are in the codebook's versions)",
            col(Delivery.library_version),
        ),
        Column(
            "inputs",
            ColumnType.json,
            "What the policy was given, for replay: target, personalization (preferred, "
            "disliked and disabled skills and modalities; the participant's own skills as key, "
            "targets and modalities) and history (earlier skills offered with their "
            "helpfulness and sequence); {} for a safety decision",
            replay_inputs(col(Delivery.inputs)),
        ),
        _timestamp(Delivery, "opened_at", "When the participant opened the skill"),
        _timestamp(Delivery, "completed_at", "When the participant completed the skill"),
        Column(
            "helpfulness",
            ColumnType.integer,
            "How helpful the participant found the skill",
            col(Delivery.helpfulness),
            unit="0 to 10",
        ),
        Column(
            "distress_after",
            ColumnType.integer,
            "Distress reported after the skill",
            col(Delivery.distress_after),
            unit="0 to 100",
        ),
        _timestamp(Delivery, "feedback_at", "When the feedback came"),
    ]


def _decision_point_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        _checkin_ref(),
        _timestamp(DecisionPoint, "at", "When the deciding check-in was answered"),
        Column(
            "prompted",
            ColumnType.boolean,
            "True for a prompted check-in, false for a self-initiated one",
            col(DecisionPoint.prompt_id).is_not(None),
        ),
        Column(
            "study_day",
            ColumnType.integer,
            "The participant's study day at the decision (day 1: the day of enrollment)",
            col(DecisionPoint.study_day),
        ),
        Column(
            "local_minute",
            ColumnType.integer,
            "Minutes after local midnight at the decision, in the participant's time zone",
            col(DecisionPoint.local_minute),
            unit="0 to 1439",
        ),
        Column(
            "available",
            ColumnType.boolean,
            "Whether the participant was available for randomization",
            col(DecisionPoint.available),
        ),
        Column(
            "unavailable_reason",
            ColumnType.string,
            "Why not available (empty when available)",
            col(DecisionPoint.unavailable_reason),
            values=get_args(Unavailable),
        ),
        Column(
            "probability",
            ColumnType.number,
            "The randomization probability used, after clipping (empty when unavailable)",
            col(DecisionPoint.probability),
            unit="0 to 1",
        ),
        Column(
            "treated",
            ColumnType.boolean,
            "The treatment indicator: true when the skill was offered (empty when unavailable)",
            col(DecisionPoint.treated),
        ),
        Column(
            "draw",
            ColumnType.number,
            "The uniform draw: treated exactly when it is below the probability",
            col(DecisionPoint.draw),
            unit="0 to 1",
        ),
        Column(
            "seed",
            ColumnType.string,
            "Seed material of the draw (`kairos replay` reproduces it)",
            col(DecisionPoint.seed),
        ),
        Column(
            "needs",
            ColumnType.json,
            "Each dimension's need at the decision",
            col(DecisionPoint.needs),
            unit="0 to 100 each",
        ),
        Column(
            "outcome_kind",
            ColumnType.string,
            "The proximal outcome: the distress-after rating of the delivery's feedback, a "
            "dimension's need, or an item's answer, at the next check-in within the window",
            col(DecisionPoint.outcome_kind),
            values=get_args(OutcomeKind),
        ),
        Column(
            "outcome_dimension",
            ColumnType.string,
            "The dimension of a next_need outcome",
            col(DecisionPoint.outcome_dimension),
        ),
        Column(
            "outcome_item",
            ColumnType.string,
            "The item of a next_item outcome (its answer on the item's own scale; a boolean "
            "is 1 or 0)",
            col(DecisionPoint.outcome_item),
        ),
        Column(
            "outcome_hours",
            ColumnType.integer,
            "The window of a next_need or next_item outcome",
            col(DecisionPoint.outcome_hours),
            unit="hours",
        ),
        Column(
            "outcome",
            ColumnType.number,
            "The proximal outcome (empty while not known)",
            col(DecisionPoint.outcome),
            unit="0 to 100",
        ),
        _timestamp(DecisionPoint, "outcome_at", "When the outcome's data were answered"),
    ]


def _safety_columns(ctx: StudyContext) -> list[Column]:
    return [
        *_who(ctx),
        _checkin_ref(),
        Column(
            "tier",
            ColumnType.string,
            "Risk tier of the screen",
            col(SafetyEvent.tier),
            values=get_args(RiskTier),
        ),
        Column(
            "items",
            ColumnType.json,
            "Keys of the risk items that met the rule",
            col(SafetyEvent.items),
        ),
        _timestamp(SafetyEvent, "created_at", "When the event opened"),
        _timestamp(SafetyEvent, "acknowledged_at", "When a clinician acknowledged it"),
    ]


def _plan_columns(ctx: StudyContext) -> list[Column]:
    counts = [
        Column(
            f"{section}_entries",
            ColumnType.integer,
            f"How many entries the plan's {section} section has in this version (0: none); "
            "their text is never exported",
            col(PlanVersion.entry_counts)[section.value].as_integer(),
            unit="0 or more",
        )
        for section in PlanSection
    ]
    return [
        *_who(ctx),
        Column(
            "version",
            ColumnType.integer,
            "The plan's version number (1 is the first)",
            col(PlanVersion.version),
            unit="1 or more",
        ),
        Column(
            "author",
            ColumnType.string,
            "Who made this version: the client, or a member of staff (which one is not exported)",
            col(PlanVersion.author_type),
            values=("client", "staff"),
        ),
        Column(
            "changed",
            ColumnType.json,
            "The sections this version changed (names only)",
            col(PlanVersion.changed),
        ),
        *counts,
        _timestamp(PlanVersion, "created_at", "When this version was saved"),
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
        TableSpec(
            name="checkins",
            meaning="One row per check-in, one column per questionnaire item",
            model=CheckIn,
            time_attr="received_at",
            columns=_checkin_columns,
            order_by=("received_at", "id"),
            joins=((Prompt, col(Prompt.id) == col(CheckIn.prompt_id)),),
        ),
        TableSpec(
            name="detections",
            meaning="What the rule set found in each check-in: a score per process pole",
            model=Detection,
            time_attr="at",
            columns=_detection_columns,
            order_by=("at", "id"),
            joins=((CheckIn, col(CheckIn.id) == col(Detection.checkin_id)),),
        ),
        TableSpec(
            name="deliveries",
            meaning="Every skill decision after a check-in, with its probabilities and feedback",
            model=Delivery,
            time_attr="created_at",
            columns=_delivery_columns,
            order_by=("created_at", "id"),
            joins=((CheckIn, col(CheckIn.id) == col(Delivery.checkin_id)),),
        ),
        TableSpec(
            name="decision_points",
            meaning="Every decision point of a micro-randomized arm: availability, the "
            "probability used, the treatment and the proximal outcome",
            model=DecisionPoint,
            time_attr="at",
            columns=_decision_point_columns,
            order_by=("at", "id"),
            joins=((CheckIn, col(CheckIn.id) == col(DecisionPoint.checkin_id)),),
        ),
        TableSpec(
            name="safety_events",
            meaning="Check-ins that met a risk rule, and when they were acknowledged",
            model=SafetyEvent,
            time_attr="created_at",
            columns=_safety_columns,
            order_by=("created_at", "id"),
            joins=((CheckIn, col(CheckIn.id) == col(SafetyEvent.checkin_id)),),
        ),
        TableSpec(
            name="plan_versions",
            meaning="One row per version of a participant's personal plan: which sections "
            "have entries and how many. The plan's words (values, goals, hard situations, "
            "warning signs, strategies, people to reach out to and how, reasons for change) "
            "never leave Kairos",
            model=PlanVersion,
            time_attr="created_at",
            columns=_plan_columns,
            order_by=("created_at", "id"),
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
        zone = (
            f"at the offset in {column.local_offset} (the phone's own clock)"
            if column.local_offset
            else "in the participant's time zone as stored now"
        )
        out.append(
            Column(
                f"{stem}_time",
                ColumnType.time,
                f"{column.meaning}: local time of day {zone}",
                None,
                unit="HH:MM:SS local time",
            )
        )
    return out
