import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.fields import enum_field, id_field, json_field, utc_field

# Why a prompt was not pushed although it was due: the participant had no device to push to.
NO_DEVICE = "no active device"
DEVICE_UNREGISTERED = "device_unregistered"
UNDELIVERABLE_REASONS = (NO_DEVICE, DEVICE_UNREGISTERED)


class PromptStatus(StrEnum):
    planned = "planned"
    sent = "sent"
    answered = "answered"
    expired = "expired"
    failed = "failed"
    canceled = "canceled"
    # A decision point of the schedule that is not pushed (for example a fixed time outside
    # the participant's waking hours); its row keeps the reason.
    skipped = "skipped"


class Prompt(SQLModel, table=True):
    """One planned push for one participant: a decision point of the study."""

    __table_args__ = (
        # Planning twice, or on several workers, never creates a second prompt for a slot.
        UniqueConstraint("participant_id", "slot"),
        Index("ix_prompt_due", "status", "scheduled_at"),
        Index("ix_prompt_next_push", "next_push_at"),
    )

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    slot: str = Field(max_length=80)
    scheduled_at: datetime = utc_field()
    window_start: datetime = utc_field()
    window_end: datetime = utc_field()
    expires_at: datetime = utc_field()
    status: PromptStatus = enum_field(PromptStatus, default=PromptStatus.planned)
    attempts: int = 0
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    opened_at: datetime | None = utc_field(nullable=True)
    answered_at: datetime | None = utc_field(nullable=True)
    status_reason: str | None = Field(default=None, max_length=200)
    # The UTC instants of the reminders the planner fitted in (ISO strings).
    reminders: list[str] = json_field(list, server_default="[]")
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # When the next push for this prompt (first send, retry or reminder) is due; None when
    # nothing more is to be pushed. Dispatch claims rows by it.
    next_push_at: datetime | None = utc_field(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    claim_expires_at: datetime | None = utc_field(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class PromptAttempt(SQLModel, table=True):
    """One push attempt for a prompt or one of its reminders: the delivery record. A test
    push staff sent (kind `test`) has no prompt and is never counted as one."""

    __tablename__ = "prompt_attempt"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    prompt_id: uuid.UUID | None = Field(default=None, foreign_key="prompt.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    kind: str = Field(max_length=16)
    at: datetime = utc_field()
    outcome: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=500)
    worker: str = Field(max_length=64)


class StudySchedule(SQLModel, table=True):
    """One saved version of a study's prompt schedule; the highest version is in force."""

    __tablename__ = "study_schedule"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    version: int
    schedule: dict[str, Any] = json_field()
    # {locale: {"title": ..., "body": ...}}: the notification text the study sets.
    notification: dict[str, Any] = json_field()
    created_by: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = utc_field()


class ParticipantScheduleOverride(SQLModel, table=True):
    """One version of a clinician's schedule for one participant; `schedule` None lifts it."""

    __tablename__ = "schedule_override"
    __table_args__ = (UniqueConstraint("participant_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    version: int
    schedule: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    reason: str = Field(max_length=2000)
    created_by: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = utc_field()


class WakingHoursRecord(SQLModel, table=True):
    """A participant's waking day (local wall-clock times), set by them or their clinician."""

    __tablename__ = "waking_hours"

    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True)
    wake: str = Field(max_length=5)
    sleep: str = Field(max_length=5)
    updated_at: datetime = utc_field()
